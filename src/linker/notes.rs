//! Notes the linker writes itself: `.note.gnu.property` merged from the inputs' notes as GNU
//! ld merges them, and the `--package-metadata` note (`.note.package`).
//!
//! Both become ordinary input sections of the first input file (GNU ld merges the property
//! note into the first input that has one and attaches the package note to the first input),
//! so scripts select them, orphan placement places them and `-r` keeps them like any other
//! section.

use crate::linker::args::CetReport;
use crate::linker::context::Link;
use crate::linker::diag;
use crate::linker::object_file::{InputSection, SecState, Split};
use anyhow::{bail, Result};
use object::elf;
use std::collections::BTreeMap;

const PROPERTY_SECTION: &[u8] = b".note.gnu.property";
const NT_GNU_PROPERTY_TYPE_0: u32 = 5;
const GNU_PROPERTY_STACK_SIZE: u32 = 1;
const GNU_PROPERTY_NO_COPY_ON_PROTECTED: u32 = 2;
const GNU_PROPERTY_X86_FEATURE_1_AND: u32 = 0xc000_0002;
const GNU_PROPERTY_X86_ISA_1_NEEDED: u32 = 0xc000_8002;
const FEATURE_1_IBT: u32 = 1;
const FEATURE_1_SHSTK: u32 = 2;
/// `NT_FDO_PACKAGING_METADATA`, the package note of the systemd/FDO specification.
const NT_FDO_PACKAGING_METADATA: u32 = 0xcafe_1a7e;

/// How the output value of a property follows from the inputs' (generic ABI and the x86-64
/// psABI ranges; GNU ld follows the same rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Merge {
    /// Bits every input has; an input without the property has none.
    And,
    /// Bits any input has.
    Or,
    /// Bits any input has, but only if every input has the property.
    OrAnd,
    /// The largest value (`GNU_PROPERTY_STACK_SIZE`).
    Max,
    /// Present if any input has it (no data).
    Any,
    /// A type the linker does not know: kept with the first value seen.
    Unknown,
}

fn merge_kind(t: u32) -> Merge {
    match t {
        GNU_PROPERTY_STACK_SIZE => Merge::Max,
        GNU_PROPERTY_NO_COPY_ON_PROTECTED => Merge::Any,
        0xb000_0000..=0xb000_7fff | 0xc000_0002..=0xc000_7fff => Merge::And,
        0xb000_8000..=0xb000_ffff | 0xc000_8000..=0xc000_ffff => Merge::Or,
        0xc001_0000..=0xc001_7fff => Merge::OrAnd,
        _ => Merge::Unknown,
    }
}

/// The bytes a property of this kind must carry (None: any size).
fn data_size(m: Merge) -> Option<usize> {
    match m {
        Merge::And | Merge::Or | Merge::OrAnd => Some(4),
        Merge::Max => Some(8),
        Merge::Any => Some(0),
        Merge::Unknown => None,
    }
}

/// One input's properties, by type.
type Props = BTreeMap<u32, Vec<u8>>;

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn value(data: &[u8]) -> u64 {
    let mut v = [0u8; 8];
    let n = data.len().min(8);
    v[..n].copy_from_slice(&data[..n]);
    u64::from_le_bytes(v)
}

/// The properties of one `.note.gnu.property` section, or why it cannot be read.
fn parse_property_notes(data: &[u8]) -> Result<Props, String> {
    let mut props = Props::new();
    let mut off = 0usize;
    while off < data.len() {
        let (Some(namesz), Some(descsz), Some(ntype)) = (
            u32_at(data, off),
            u32_at(data, off + 4),
            u32_at(data, off + 8),
        ) else {
            return Err(format!("truncated note header at offset {off:#x}"));
        };
        let name_start = off + 12;
        // Name and descriptor are padded to the section's 8-byte alignment.
        let desc_start = off + (12 + namesz as usize).next_multiple_of(8);
        let desc_end = desc_start + descsz as usize;
        if desc_end > data.len() || name_start + namesz as usize > data.len() {
            return Err(format!("note at offset {off:#x} extends past the section"));
        }
        let name = &data[name_start..name_start + namesz as usize];
        if name == b"GNU\0" && ntype == NT_GNU_PROPERTY_TYPE_0 {
            parse_properties(&data[desc_start..desc_end], &mut props)?;
        }
        off = desc_end.next_multiple_of(8);
    }
    Ok(props)
}

/// The properties of one NT_GNU_PROPERTY_TYPE_0 descriptor (8-byte aligned entries).
fn parse_properties(desc: &[u8], props: &mut Props) -> Result<(), String> {
    let mut off = 0usize;
    while off < desc.len() {
        let (Some(t), Some(size)) = (u32_at(desc, off), u32_at(desc, off + 4)) else {
            return Err(format!("truncated property at offset {off:#x}"));
        };
        let start = off + 8;
        let end = start + size as usize;
        if end > desc.len() {
            return Err(format!("property {t:#x} extends past its note"));
        }
        if data_size(merge_kind(t)).is_some_and(|n| n != size as usize) {
            return Err(format!("property {t:#x} has size {size:#x}"));
        }
        props.entry(t).or_insert_with(|| desc[start..end].to_vec());
        off = end.next_multiple_of(8);
    }
    Ok(())
}

/// Each input's properties in link order (None: no property note), with the linker's own
/// input left out. A note that cannot be read is reported and counts as absent.
fn input_properties(link: &Link) -> Vec<(u32, Option<Props>)> {
    let mut out = Vec::new();
    for f in link.file_order() {
        let file = &link.files[f as usize];
        if file.is_linker_note() {
            continue;
        }
        let mut props: Option<Props> = None;
        for sec in file.sections.iter().filter(|s| s.name == PROPERTY_SECTION) {
            match parse_property_notes(sec.data) {
                Ok(p) => {
                    let all = props.get_or_insert_with(Props::new);
                    for (t, d) in p {
                        all.entry(t).or_insert(d);
                    }
                }
                Err(why) => {
                    diag::warn(format_args!(
                        "{}: corrupt {}: {why}; ignoring its properties",
                        file.name,
                        String::from_utf8_lossy(PROPERTY_SECTION)
                    ));
                    props = None;
                    break;
                }
            }
        }
        out.push((f, props));
    }
    out
}

/// The output's properties: each type merged over the inputs by its kind, then the bits the
/// command line forces.
fn merge_properties(link: &Link, inputs: &[(u32, Option<Props>)]) -> Props {
    let types: std::collections::BTreeSet<u32> = inputs
        .iter()
        .filter_map(|(_, p)| p.as_ref())
        .flat_map(|p| p.keys().copied())
        .collect();
    let mut out = Props::new();
    for t in types {
        let kind = merge_kind(t);
        let have: Vec<&Vec<u8>> = inputs
            .iter()
            .filter_map(|(_, p)| p.as_ref()?.get(&t))
            .collect();
        let all = have.len() == inputs.len();
        let merged: Option<Vec<u8>> = match kind {
            Merge::And => {
                let bits = if all {
                    have.iter().fold(u32::MAX, |a, d| a & value(d) as u32)
                } else {
                    0
                };
                Some(bits.to_le_bytes().to_vec())
            }
            Merge::Or => Some(
                have.iter()
                    .fold(0u32, |a, d| a | value(d) as u32)
                    .to_le_bytes()
                    .to_vec(),
            ),
            Merge::OrAnd => all.then(|| {
                have.iter()
                    .fold(0u32, |a, d| a | value(d) as u32)
                    .to_le_bytes()
                    .to_vec()
            }),
            Merge::Max => Some(
                have.iter()
                    .map(|d| value(d))
                    .max()
                    .unwrap_or(0)
                    .to_le_bytes()
                    .to_vec(),
            ),
            Merge::Any => Some(Vec::new()),
            Merge::Unknown => {
                for (f, _) in inputs
                    .iter()
                    .filter(|(_, p)| p.as_ref().is_some_and(|p| p.contains_key(&t)))
                {
                    diag::warn(format_args!(
                        "{}: unsupported GNU_PROPERTY_TYPE ({NT_GNU_PROPERTY_TYPE_0}) type: {t:#x}",
                        link.files[*f as usize].name
                    ));
                }
                have.first().map(|d| d.to_vec())
            }
        };
        if let Some(d) = merged {
            out.insert(t, d);
        }
    }
    let mut force = |t: u32, bits: u32| {
        if bits != 0 {
            let d = out.entry(t).or_insert_with(|| vec![0; 4]);
            let v = value(d) as u32 | bits;
            *d = v.to_le_bytes().to_vec();
        }
    };
    let args = &link.args;
    force(
        GNU_PROPERTY_X86_FEATURE_1_AND,
        (args.force_ibt as u32 * FEATURE_1_IBT) | (args.force_shstk as u32 * FEATURE_1_SHSTK),
    );
    force(GNU_PROPERTY_X86_ISA_1_NEEDED, args.isa_needed);
    // Bit-mask properties whose bits all cleared are left out.
    out.retain(|&t, d| {
        !matches!(merge_kind(t), Merge::And | Merge::Or | Merge::OrAnd) || value(d) != 0
    });
    out
}

/// One note: header, owner name and descriptor, each padded to `align`.
fn note(owner: &[u8], ntype: u32, desc: &[u8], align: usize) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(owner.len() as u32).to_le_bytes());
    v.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    v.extend_from_slice(&ntype.to_le_bytes());
    v.extend_from_slice(owner);
    v.resize(v.len().next_multiple_of(align), 0);
    v.extend_from_slice(desc);
    v.resize(v.len().next_multiple_of(align), 0);
    v
}

fn property_note(props: &Props) -> Vec<u8> {
    let mut desc = Vec::new();
    for (t, d) in props {
        desc.extend_from_slice(&t.to_le_bytes());
        desc.extend_from_slice(&(d.len() as u32).to_le_bytes());
        desc.extend_from_slice(d);
        desc.resize(desc.len().next_multiple_of(8), 0);
    }
    note(b"GNU\0", NT_GNU_PROPERTY_TYPE_0, &desc, 8)
}

/// `-z cet-report`: every input whose IBT or SHSTK bit is missing (and not forced on).
fn report_cet(link: &Link, inputs: &[(u32, Option<Props>)]) -> Result<()> {
    let args = &link.args;
    if args.cet_report == CetReport::None {
        return Ok(());
    }
    let mut lines = Vec::new();
    for (f, props) in inputs {
        let bits = props
            .as_ref()
            .and_then(|p| p.get(&GNU_PROPERTY_X86_FEATURE_1_AND))
            .map_or(0, |d| value(d) as u32);
        let ibt = !args.force_ibt && bits & FEATURE_1_IBT == 0;
        let shstk = !args.force_shstk && bits & FEATURE_1_SHSTK == 0;
        let what = match (ibt, shstk) {
            (true, true) => "IBT and SHSTK properties",
            (true, false) => "IBT property",
            (false, true) => "SHSTK property",
            (false, false) => continue,
        };
        lines.push(format!("{}: missing {what}", link.files[*f as usize].name));
    }
    match args.cet_report {
        CetReport::Error if !lines.is_empty() => {
            bail!("-z cet-report=error:\n  {}", lines.join("\n  "))
        }
        _ => {
            for l in lines {
                diag::warn(l);
            }
            Ok(())
        }
    }
}

/// A linker-written note section: allocated, SHT_NOTE, contents owned for the whole link.
fn note_section(name: &'static [u8], data: Vec<u8>, align: u64) -> InputSection {
    let data: &'static [u8] = Box::leak(data.into_boxed_slice());
    InputSection {
        name,
        sh_type: elf::SHT_NOTE,
        flags: elf::SHF_ALLOC as u64,
        size: data.len() as u64,
        align,
        entsize: 0,
        data,
        relocs: &[],
        state: SecState::Normal,
        live: true,
        split: Split::None,
        merge_idx: u32::MAX,
        out_sec: u32::MAX,
        out_off: 0,
    }
}

/// The first input file in link order, which receives the notes no input has.
fn first_input(link: &Link) -> Option<u32> {
    link.file_order()
        .into_iter()
        .find(|&f| !link.files[f as usize].is_linker_note())
}

/// Replaces the inputs' property notes by the merged one: it takes the place of the first
/// input's note (a new section of the first input if none has one), the others are dropped.
/// Input property notes are loaded as ignored sections, so nothing else needs undoing.
fn place_property_note(link: &mut Link, props: &Props) {
    if props.is_empty() {
        return;
    }
    let sec = note_section(PROPERTY_SECTION, property_note(props), 8);
    let holder = link.file_order().into_iter().find_map(|f| {
        let file = &link.files[f as usize];
        let s = file
            .sections
            .iter()
            .position(|s| s.name == PROPERTY_SECTION)?;
        Some((f, s))
    });
    match holder {
        Some((f, s)) => link.files[f as usize].sections[s] = sec,
        None => {
            if let Some(f) = first_input(link) {
                link.files[f as usize].sections.push(sec);
            }
        }
    }
}

/// `--package-metadata`: the JSON text NUL-terminated in an FDO note. Like GNU ld built with
/// a JSON parser, text that is not a JSON object or array is reported and left out.
fn package_note(json: &str) -> Option<Vec<u8>> {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(v) if v.is_object() || v.is_array() => {}
        Ok(_) => {
            diag::warn(format_args!(
                "--package-metadata={json} does not contain valid JSON, ignoring: \
                 an object or an array is expected"
            ));
            return None;
        }
        Err(e) => {
            diag::warn(format_args!(
                "--package-metadata={json} does not contain valid JSON, ignoring: {e}"
            ));
            return None;
        }
    }
    // GNU ld counts the padding after the NUL in the descriptor's size.
    let mut desc = json.as_bytes().to_vec();
    desc.resize((desc.len() + 1).next_multiple_of(4), 0);
    Some(note(b"FDO\0", NT_FDO_PACKAGING_METADATA, &desc, 4))
}

/// The notes of this link, as sections of its inputs: the merged `.note.gnu.property` (with
/// `-z cet-report` checked) and `.note.package`.
pub fn add_linker_notes(link: &mut Link) -> Result<()> {
    let inputs = input_properties(link);
    report_cet(link, &inputs)?;
    let props = merge_properties(link, &inputs);
    place_property_note(link, &props);
    if let Some(data) = link.args.package_metadata.as_deref().and_then(package_note) {
        if let Some(f) = first_input(link) {
            let sec = note_section(b".note.package", data, 4);
            link.files[f as usize].sections.push(sec);
        }
    }
    Ok(())
}
