package image

import (
	"fmt"
	"path"
	"strings"
)

// The hindsight command line picks the guest among the multiboot modules
// hindsight was booted with, by name:
//
//	guest=NAME          the guest kernel (without it: the embedded test guest)
//	initrd=NAME         a Linux guest's initrd
//	guestmods=A,B,...   a multiboot guest's own modules, in this order
//
// A module's name is the base name of the first word of its string, and
// the rest of the string is its arguments: QEMU's -initrd "dir/bzImage
// console=ttyS0" gives the string "dir/bzImage console=ttyS0", so the name
// bzImage and the arguments "console=ttyS0". GRUB 2 leaves the path out of
// a module's string, so a GRUB line repeats the name first:
// "module /boot/bzImage bzImage console=ttyS0".
//
// The guest kernel's arguments become its command line: a Linux kernel gets
// them alone, a multiboot kernel gets "NAME ARGS" (its name first, as
// multiboot loaders do). A multiboot guest module's string is "NAME ARGS"
// too. An initrd's arguments are ignored.

// Choice is what the command line asks for.
type Choice struct {
	Guest   string   // guest=: the kernel module's name; "" for the embedded test guest
	Initrd  string   // initrd=
	Modules []string // guestmods=
}

const (
	optGuest   = "guest"
	optInitrd  = "initrd"
	optModules = "guestmods"
)

// ParseChoice reads guest=, initrd= and guestmods= from a command line;
// other words are not its business.
func ParseChoice(cmdline string) (Choice, error) {
	var c Choice
	seen := map[string]bool{}
	for _, w := range strings.Fields(cmdline) {
		k, v, ok := strings.Cut(w, "=")
		if !ok || (k != optGuest && k != optInitrd && k != optModules) {
			continue
		}
		if seen[k] {
			return Choice{}, optErrorf("%s= appears twice on the command line", k)
		}
		seen[k] = true
		if v == "" {
			return Choice{}, optErrorf("%s= names no module", k)
		}
		switch k {
		case optGuest:
			c.Guest = v
		case optInitrd:
			c.Initrd = v
		case optModules:
			c.Modules = strings.Split(v, ",")
			for _, m := range c.Modules {
				if m == "" {
					return Choice{}, optErrorf("guestmods=%s has an empty name: separate module names by single commas", v)
				}
			}
		}
	}
	if c.Guest == "" && (c.Initrd != "" || c.Modules != nil) {
		return Choice{}, optErrorf("initrd= and guestmods= go with guest=, which names the kernel module")
	}
	if c.Initrd != "" && c.Modules != nil {
		return Choice{}, optErrorf("initrd= (for a Linux guest) and guestmods= (for a multiboot guest) cannot both be given")
	}
	roles := map[string]string{c.Guest: "guest="}
	if c.Initrd != "" {
		if r, dup := roles[c.Initrd]; dup {
			return Choice{}, optErrorf("module %s is named twice (%s and initrd=)", c.Initrd, r)
		}
	}
	for _, m := range c.Modules {
		if r, dup := roles[m]; dup {
			return Choice{}, optErrorf("module %s is named twice (%s and guestmods=)", m, r)
		}
		roles[m] = "guestmods="
	}
	return c, nil
}

// Embedded reports whether the choice is hindsight's own test guest.
func (c Choice) Embedded() bool { return c.Guest == "" }

// ModuleName splits a module's string into its name and its arguments.
func ModuleName(cmdline string) (name, args string) {
	first, rest, _ := strings.Cut(strings.TrimSpace(cmdline), " ")
	if first == "" {
		return "", ""
	}
	return path.Base(first), strings.TrimSpace(rest)
}

// Spec resolves the choice against the modules hindsight was booted with
// (each with its string and bytes) and detects the kernel's format.
// Precondition: !c.Embedded().
func (c Choice) Spec(mods []Module) (Spec, error) {
	find := func(opt, name string) (Module, string, error) {
		var found []Module
		for _, m := range mods {
			if n, _ := ModuleName(m.Cmdline); n == name {
				found = append(found, m)
			}
		}
		switch len(found) {
		case 0:
			return Module{}, "", optErrorf("%s%s: no module is named %s; %s", opt, name, name, available(mods))
		case 1:
			_, args := ModuleName(found[0].Cmdline)
			return found[0], args, nil
		}
		return Module{}, "", optErrorf("%s%s: %d modules are named %s: rename all but one", opt, name, len(found), name)
	}
	k, args, err := find("guest=", c.Guest)
	if err != nil {
		return Spec{}, err
	}
	s := Spec{Name: c.Guest, Kernel: k.Data}
	if s.Format, err = Detect(k.Data); err != nil {
		return Spec{}, named(err, c.Guest)
	}
	switch {
	case s.Format.Linux():
		if c.Modules != nil {
			return Spec{}, optErrorf("guestmods= is for multiboot kernels; %s is a %s: give it one initramfs with initrd=", c.Guest, s.Format)
		}
		s.Cmdline = args
		if c.Initrd != "" {
			m, _, err := find("initrd=", c.Initrd)
			if err != nil {
				return Spec{}, err
			}
			s.Initrd = m.Data
			if s.Initrd == nil {
				s.Initrd = []byte{}
			}
		}
	case s.Format.Multiboot():
		if c.Initrd != "" {
			return Spec{}, optErrorf("initrd= is for Linux kernels; %s is a %s: give it modules with guestmods=", c.Guest, s.Format)
		}
		s.Cmdline = joinName(c.Guest, args)
		for _, n := range c.Modules {
			m, margs, err := find("guestmods=", n)
			if err != nil {
				return Spec{}, err
			}
			s.Modules = append(s.Modules, Module{Cmdline: joinName(n, margs), Data: m.Data})
		}
	}
	return s, nil
}

func joinName(name, args string) string {
	if args == "" {
		return name
	}
	return name + " " + args
}

// available lists the modules' names for an error message.
func available(mods []Module) string {
	if len(mods) == 0 {
		return "hindsight was booted without modules (GRUB: module lines; QEMU: -initrd)"
	}
	names := make([]string, len(mods))
	unnamed := ""
	for i, m := range mods {
		if names[i], _ = ModuleName(m.Cmdline); names[i] == "" {
			names[i] = "(no name)"
			unnamed = " (GRUB 2 gives a module only the words after its path: repeat the name, \"module /boot/NAME NAME ARGS\")"
		}
	}
	return "the modules are: " + strings.Join(names, ", ") + unnamed
}

func optErrorf(format string, args ...any) error {
	return &Error{Msg: "options: " + fmt.Sprintf(format, args...)}
}
