# The firmware of kiln's KVM probe boot (internal/vm/accel.go, probeCode).
# TestProbeFirmwareSource assembles this file with GNU as and checks that
# probeCode holds exactly its bytes:
#
#   as --32 -o kvmprobe.o kvmprobe.S && objcopy -O binary kvmprobe.o kvmprobe.fd
#
# From the reset vector it does what every kernel's early boot does: load a
# GDT, enter 32-bit protected mode, build identity page tables, enable PAE
# and EFER.LME, turn paging on and jump into 64-bit code, which writes 1 to
# the isa-debug-exit port 0xf4 and so ends QEMU with status 3. A KVM that
# runs real-mode code but hangs at the first mode switch (seen on nested
# hosts whose guests never print past "Probing EDD") fails it by timing out.
#
# The image is 64 KiB; QEMU maps it so that its last byte is at 0xFFFFF.
	.set BASE, 0xF0000
	.code16
	.org 0
start16:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl %cs:(gdtr - start16)
	movl %cr0, %eax
	orl $1, %eax                    # CR0.PE
	movl %eax, %cr0
	ljmpl $0x08, $(BASE + start32 - start16)

	.code32
start32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	# PML4 at 0x1000 -> PDPT at 0x2000 -> PD at 0x3000: one 2 MiB page at 0.
	movl $0x1000, %edi
	xorl %eax, %eax
	movl $(3*1024), %ecx
	rep stosl
	movl $0x2003, 0x1000
	movl $0x3003, 0x2000
	movl $0x83, 0x3000
	movl $0x1000, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax                 # CR4.PAE
	movl %eax, %cr4
	movl $0xC0000080, %ecx          # EFER
	rdmsr
	orl $0x100, %eax                # EFER.LME
	wrmsr
	movl %cr0, %eax
	orl $0x80000000, %eax           # CR0.PG
	movl %eax, %cr0
	ljmp $0x18, $(BASE + start64 - start16)

	.code64
start64:
	movb $1, %al
	outb %al, $0xf4
1:	hlt
	jmp 1b

	.p2align 3
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff        # 0x08: 32-bit code
	.quad 0x00cf92000000ffff        # 0x10: data
	.quad 0x00af9a000000ffff        # 0x18: 64-bit code
gdtr:
	.word gdtr - gdt - 1
	.long BASE + gdt - start16

	.org 0xFFF0
	.code16
reset:
	ljmp $0xF000, $0                # into the copy of the image below 1 MiB
	.org 0x10000
