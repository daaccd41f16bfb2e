//! The two clocks PC kernels read at boot: the i8254 timer's channel 0 (ports 0x40-0x43),
//! which kernels latch and read to calibrate their TSC, and the CMOS real-time clock (ports
//! 0x70-0x71), read for the wall-clock time. Both follow the host's clocks; neither raises an
//! interrupt (the machine has no interrupt controller).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub const PIT_CH0: u16 = 0x40;
pub const PIT_CMD: u16 = 0x43;
pub const CMOS_INDEX: u16 = 0x70;
pub const CMOS_DATA: u16 = 0x71;
/// The i8254's input clock.
const PIT_HZ: u128 = 1_193_182;

/// Channel 0 of the i8254: a 16-bit counter counting down from its reload value at 1.19 MHz.
pub struct Pit {
    start: Instant,
    reload: u32,
    /// Bytes of the reload value written so far (low byte first in lo/hi mode).
    write_lo: Option<u8>,
    access: u8,
    /// A latched count and whether its high byte is next.
    latched: Option<(u16, bool)>,
    read_hi_next: bool,
}

impl Pit {
    pub fn new() -> Pit {
        Pit {
            start: Instant::now(),
            reload: 0x1_0000,
            write_lo: None,
            access: 3,
            latched: None,
            read_hi_next: false,
        }
    }

    fn count(&self) -> u16 {
        let ticks = self.start.elapsed().as_nanos() * PIT_HZ / 1_000_000_000;
        let reload = self.reload as u128;
        (reload - ticks % reload) as u16
    }

    pub fn command(&mut self, v: u8) {
        if v >> 6 != 0 {
            // Channels 1 and 2, and read-back: not present.
            return;
        }
        match (v >> 4) & 3 {
            0 => {
                if self.latched.is_none() {
                    self.latched = Some((self.count(), false));
                }
            }
            access => {
                self.access = access;
                self.write_lo = None;
                self.read_hi_next = false;
            }
        }
    }

    pub fn write(&mut self, v: u8) {
        let value = match (self.access, self.write_lo.take()) {
            (1, _) => v as u32,
            (2, _) => (v as u32) << 8,
            (_, None) => {
                self.write_lo = Some(v);
                return;
            }
            (_, Some(lo)) => lo as u32 | (v as u32) << 8,
        };
        self.reload = if value == 0 { 0x1_0000 } else { value };
        self.start = Instant::now();
    }

    pub fn read(&mut self) -> u8 {
        let (count, hi) = match self.latched {
            Some((c, hi)) => {
                self.latched = if hi || self.access != 3 {
                    None
                } else {
                    Some((c, true))
                };
                (c, hi)
            }
            None => {
                let hi = self.read_hi_next;
                if self.access == 3 {
                    self.read_hi_next = !hi;
                }
                (self.count(), hi)
            }
        };
        match (self.access, hi) {
            (2, _) | (3, true) => (count >> 8) as u8,
            _ => count as u8,
        }
    }
}

/// The CMOS real-time clock: the host's UTC time in BCD, 24-hour mode, never mid-update.
pub struct Rtc {
    index: u8,
}

impl Rtc {
    pub fn new() -> Rtc {
        Rtc { index: 0 }
    }

    pub fn select(&mut self, v: u8) {
        // Bit 7 masks NMIs.
        self.index = v & 0x7f;
    }

    pub fn read(&self) -> u8 {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        register(self.index, secs)
    }
}

fn bcd(v: u64) -> u8 {
    (((v / 10 % 10) << 4) | (v % 10)) as u8
}

/// CMOS register `index` at `secs` seconds after the Unix epoch.
fn register(index: u8, secs: u64) -> u8 {
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    match index {
        0x00 => bcd(t % 60),
        0x02 => bcd(t / 60 % 60),
        0x04 => bcd(t / 3600),
        // Day of the week, 1 = Sunday (the epoch was a Thursday).
        0x06 => bcd((secs / 86_400 + 4) % 7 + 1),
        0x07 => bcd(day),
        0x08 => bcd(month),
        0x09 => bcd(year % 100),
        0x32 => bcd(year / 100),
        // Status A: 32.768 kHz time base, no update in progress.
        0x0a => 0x26,
        // Status B: 24-hour mode, BCD.
        0x0b => 0x02,
        // Status D: the battery is good.
        0x0d => 0x80,
        _ => 0,
    }
}

/// (year, month, day) of a day counted from 1970-01-01 (the proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as u64, month as u64, day as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtc_reads_the_date_in_bcd() {
        // 2026-12-06 19:47:47 UTC, a Sunday.
        let t = 1_796_586_467;
        let r = |i| register(i, t);
        assert_eq!(
            (r(0x32), r(0x09), r(0x08), r(0x07)),
            (0x20, 0x26, 0x12, 0x06)
        );
        assert_eq!(
            (r(0x04), r(0x02), r(0x00), r(0x06)),
            (0x19, 0x47, 0x47, 0x01)
        );
        assert_eq!(r(0x0a) & 0x80, 0, "update in progress");
    }

    #[test]
    fn pit_counts_down_between_latches() {
        let mut p = Pit::new();
        p.command(0x34); // channel 0, lo/hi, mode 2
        p.write(0xff);
        p.write(0xff);
        let latch = |p: &mut Pit| {
            p.command(0x00);
            p.read() as u16 | (p.read() as u16) << 8
        };
        let a = latch(&mut p);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = latch(&mut p);
        // 5 ms is about 5966 ticks; allow for a slow machine, not for a stopped counter.
        let elapsed = a.wrapping_sub(b);
        assert!(elapsed > 5000, "counter went from {a} to {b}");
    }
}
