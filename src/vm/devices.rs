//! The guest's devices, all on I/O ports: a COM1 serial port (16550, transmit only) whose
//! output goes to standard output, and QEMU's `isa-debug-exit` port at 0xf4, so that kernels
//! written for QEMU stop the same way and give the same exit status, `(value << 1) | 1`.

use std::io::Write;

const COM1: u16 = 0x3f8;
const COM_LCR: u16 = COM1 + 3;
const COM_LSR: u16 = COM1 + 5;
const COM_MSR: u16 = COM1 + 6;
const LCR_DLAB: u8 = 0x80;
/// Transmit holding register and transmitter empty: the guest may always send.
const LSR_IDLE: u8 = 0x60;
/// Clear to send, data set ready, carrier detect.
const MSR_READY: u8 = 0xb0;
pub const DEBUG_EXIT: u16 = 0xf4;

pub struct Devices<W: Write> {
    console: W,
    lcr: u8,
    scratch: u8,
    /// Set once the guest wrote to the exit port.
    pub exit: Option<i32>,
}

impl<W: Write> Devices<W> {
    pub fn new(console: W) -> Devices<W> {
        Devices {
            console,
            lcr: 0,
            scratch: 0,
            exit: None,
        }
    }

    pub fn out(&mut self, port: u16, data: &[u8]) -> std::io::Result<()> {
        let Some(&v) = data.first() else {
            return Ok(());
        };
        match port {
            // With the divisor latch selected, the data port holds the baud rate divisor.
            COM1 if self.lcr & LCR_DLAB == 0 => {
                self.console.write_all(&[v])?;
                if v == b'\n' {
                    self.console.flush()?;
                }
            }
            COM_LCR => self.lcr = v,
            0x3ff => self.scratch = v,
            DEBUG_EXIT => self.exit = Some(((v as i32) << 1) | 1),
            // Other UART registers and ports without a device: ignored, as on real hardware.
            _ => {}
        }
        Ok(())
    }

    pub fn input(&mut self, port: u16, data: &mut [u8]) {
        let v = match port {
            COM_LSR => LSR_IDLE,
            COM_MSR => MSR_READY,
            COM_LCR => self.lcr,
            0x3ff => self.scratch,
            COM1..=0x3fe => 0,
            // No device: the bus floats high.
            _ => 0xff,
        };
        data.fill(v);
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.console.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_output_skips_the_divisor_and_exit_matches_qemu() {
        let mut d = Devices::new(Vec::new());
        d.out(COM_LCR, &[0x80]).unwrap();
        d.out(COM1, &[0x01]).unwrap();
        d.out(COM_LCR, &[0x03]).unwrap();
        for &b in b"ok\n" {
            d.out(COM1, &[b]).unwrap();
        }
        let mut lsr = [0u8];
        d.input(COM_LSR, &mut lsr);
        assert_ne!(lsr[0] & 0x20, 0, "transmitter never ready");
        d.out(DEBUG_EXIT, &[0x2a]).unwrap();
        assert_eq!(d.exit, Some(85));
        assert_eq!(d.console, b"ok\n");
    }
}
