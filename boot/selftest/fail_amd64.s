#include "textflag.h"

TEXT ·ud2(SB),NOSPLIT,$0
	BYTE $0x0F; BYTE $0x0B // UD2
	RET
