module example.com/ifacetest

go 1.26
