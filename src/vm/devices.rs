//! The guest's devices, all on I/O ports: a COM1 serial port (16550, transmit only) whose
//! output goes to standard output; QEMU's `isa-debug-exit` at 0xf4 and at its default port
//! 0x501, so that kernels written for QEMU stop the same way and give the same exit status,
//! `(value << 1) | 1`; QEMU's ACPI power-off port 0x604 and pvpanic port 0x505; and the
//! clocks of `clock`.

use super::clock::{Pit, Rtc, CMOS_DATA, CMOS_INDEX, PIT_CH0, PIT_CMD};
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
/// QEMU's default `isa-debug-exit` port (Unikraft's exit and crash codes go there).
const DEBUG_EXIT_DEFAULT: u16 = 0x501;
/// QEMU's ACPI PM1a control port: a write of SLP_EN (bit 13) powers off.
const ACPI_PM1A_CNT: u16 = 0x604;
const SLP_EN: u16 = 1 << 13;
/// QEMU's pvpanic port: bit 0 written means the guest panicked.
const PVPANIC: u16 = 0x505;

/// How the guest asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A write to a debug-exit port: QEMU's exit status for it.
    Exit(i32),
    /// ACPI power-off (taking effect shortly after the request, see `power_off`).
    PowerOff,
    /// pvpanic: the guest reported a crash.
    Panic,
}

pub struct Devices<W: Write> {
    console: W,
    lcr: u8,
    scratch: u8,
    pit: Pit,
    rtc: Rtc,
    /// Set once the guest asked to stop.
    pub stop: Option<Stop>,
    /// Set once the guest asked for power-off. As under QEMU, the request takes effect a
    /// little later, so that what the guest writes right after it (Unikraft writes its exit
    /// code to the debug-exit port) still counts.
    pub power_off: bool,
}

impl<W: Write> Devices<W> {
    pub fn new(console: W) -> Devices<W> {
        Devices {
            console,
            lcr: 0,
            scratch: 0,
            pit: Pit::new(),
            rtc: Rtc::new(),
            stop: None,
            power_off: false,
        }
    }

    pub fn out(&mut self, port: u16, data: &[u8]) -> std::io::Result<()> {
        let Some(&v) = data.first() else {
            return Ok(());
        };
        let word = data.iter().rev().fold(0u32, |w, &b| w << 8 | b as u32);
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
            DEBUG_EXIT | DEBUG_EXIT_DEFAULT => {
                // The process exit status keeps the low 8 bits, as QEMU's does.
                self.stop = Some(Stop::Exit(((word << 1 | 1) & 0xff) as i32))
            }
            ACPI_PM1A_CNT if word as u16 & SLP_EN != 0 => self.power_off = true,
            PVPANIC if v & 1 != 0 => self.stop = Some(Stop::Panic),
            PIT_CH0 => self.pit.write(v),
            PIT_CMD => self.pit.command(v),
            CMOS_INDEX => self.rtc.select(v),
            // Other UART registers and ports without a device: ignored, as on real hardware.
            _ => {}
        }
        Ok(())
    }

    pub fn input(&mut self, port: u16, data: &mut [u8]) {
        let v = match port {
            PIT_CH0 => self.pit.read(),
            CMOS_DATA => self.rtc.read(),
            // pvpanic's features: "panicked" only.
            PVPANIC => 1,
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
        assert_eq!(d.stop, Some(Stop::Exit(85)));
        assert_eq!(d.console, b"ok\n");
    }

    #[test]
    fn stops_as_under_qemu() {
        let stop = |port, data: &[u8]| {
            let mut d = Devices::new(Vec::new());
            d.out(port, data).unwrap();
            d.stop
        };
        assert_eq!(stop(DEBUG_EXIT_DEFAULT, &[0x20, 0]), Some(Stop::Exit(65)));
        let mut d = Devices::new(Vec::new());
        d.out(ACPI_PM1A_CNT, &[0x00, 0x00]).unwrap();
        assert!(!d.power_off);
        d.out(ACPI_PM1A_CNT, &[0x00, 0x20]).unwrap();
        assert!(d.power_off && d.stop.is_none(), "power-off is not at once");
        assert_eq!(stop(PVPANIC, &[1]), Some(Stop::Panic));
        assert_eq!(stop(0x80, &[0x2a]), None, "a POST code is no exit");
    }
}
