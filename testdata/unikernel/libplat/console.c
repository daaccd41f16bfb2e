/* COM1 (16550 UART at 0x3f8) console. */
#include <uk/plat.h>
#include "io.h"

#define COM1		0x3f8
#define COM_DATA	(COM1 + 0)
#define COM_IER		(COM1 + 1)
#define COM_DLL		(COM1 + 0)
#define COM_DLM		(COM1 + 1)
#define COM_FCR		(COM1 + 2)
#define COM_LCR		(COM1 + 3)
#define COM_MCR		(COM1 + 4)
#define COM_LSR		(COM1 + 5)
#define LSR_THRE	0x20

static int console_ready;

void ukplat_console_init(void)
{
	outb(COM_IER, 0x00);	/* no interrupts */
	outb(COM_LCR, 0x80);	/* divisor latch */
	outb(COM_DLL, 0x01);	/* 115200 baud */
	outb(COM_DLM, 0x00);
	outb(COM_LCR, 0x03);	/* 8N1 */
	outb(COM_FCR, 0xc7);	/* FIFO on, cleared */
	outb(COM_MCR, 0x0b);
	console_ready = 1;
}

void ukplat_putc(char c)
{
	if (!console_ready)
		return;
	while (!(inb(COM_LSR) & LSR_THRE))
		;
	outb(COM_DATA, (uint8_t)c);
}
