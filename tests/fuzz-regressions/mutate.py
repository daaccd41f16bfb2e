# Regenerates the mutated inputs of this directory from intact.o (gcc -O2 -c intact.c), each
# with one header, section, symbol, relocation or archive field overwritten. Run it here:
#   python3 mutate.py
# The committed inputs are what the tests use; this only documents how they were made.
import struct, os, sys
src = open('intact.o','rb').read()
def hdr(d):
    shoff, = struct.unpack_from('<Q', d, 0x28)
    shnum, = struct.unpack_from('<H', d, 0x3c)
    shstrndx, = struct.unpack_from('<H', d, 0x3e)
    return shoff, shnum, shstrndx
def sections(d):
    shoff, shnum, shstrndx = hdr(d)
    out = []
    for i in range(shnum):
        o = shoff + i*64
        name, typ, flags, addr, off, size, link, info, align, entsize = struct.unpack_from('<IIQQQQIIQQ', d, o)
        out.append(dict(i=i, at=o, name=name, type=typ, off=off, size=size, link=link, info=info, align=align, entsize=entsize))
    strs = out[shstrndx]
    for s in out:
        n = d[strs['off']+s['name']:]
        s['sname'] = n[:n.index(b'\0')].decode()
    return out
S = {s['sname']: s for s in sections(src)}
def sec(name): return S[name]
def put(d, off, fmt, v): struct.pack_into(fmt, d, off, v)
# section header field offsets
F = dict(type=4, flags=8, off=0x18, size=0x20, link=0x28, info=0x2c, align=0x30, entsize=0x38)
cases = {}
def case(name, f):
    d = bytearray(src); f(d); cases[name] = d
rela = sec('.rela.text.startup'); sym = sec('.symtab'); strt = sec('.strtab')
case('reloc-past-end', lambda d: put(d, rela['off'], '<Q', 0x36))           # 8-byte field at end-2
case('reloc-offset-underflow', lambda d: put(d, rela['off'], '<Q', 0xfffffffffffffffe))
case('align-not-power-of-two', lambda d: put(d, sec('.data')['at']+F['align'], '<Q', 3))
case('align-huge', lambda d: put(d, sec('.data')['at']+F['align'], '<Q', 1<<62))
case('merge-entsize', lambda d: put(d, sec('.rodata.str1.1')['at']+F['entsize'], '<Q', 0))
case('merge-entsize-huge', lambda d: put(d, sec('.rodata.str1.1')['at']+F['entsize'], '<Q', 1<<40))
case('bss-huge', lambda d: put(d, sec('.bss')['at']+F['size'], '<Q', 1<<60))
case('data-size-huge', lambda d: put(d, sec('.data')['at']+F['size'], '<Q', 1<<40))
case('symtab-size-huge', lambda d: put(d, sym['at']+F['size'], '<Q', 0x18<<36))
case('reloc-symbol-index', lambda d: put(d, rela['off']+8, '<Q', (0x7fffffff<<32)|4))
case('symbol-name-offset', lambda d: put(d, sym['off']+0x18*7, '<I', 0xfffffff0))
case('shnum-huge', lambda d: put(d, 0x3c, '<H', 0xffff))
case('shoff-past-eof', lambda d: put(d, 0x28, '<Q', 1<<50))
case('section-offset-past-eof', lambda d: put(d, sec('.text.startup')['at']+F['off'], '<Q', 1<<40))
case('rela-entsize', lambda d: put(d, rela['at']+F['entsize'], '<Q', 7))
case('rela-size-huge', lambda d: put(d, rela['at']+F['size'], '<Q', 0x18<<38))
case('rela-info', lambda d: put(d, rela['at']+F['info'], '<I', 0xffff))
case('symtab-link', lambda d: put(d, sym['at']+F['link'], '<I', 0xfff))
case('symbol-section-index', lambda d: put(d, sym['off']+0x18*7+6, '<H', 0xfff0))
case('shstrndx-huge', lambda d: put(d, 0x3e, '<H', 0xfff0))
case('reloc-type-unknown', lambda d: put(d, rela['off']+8, '<I', 0xee))
def ehg(d):
    e = sec('.eh_frame')
    for k in range(e['size']): d[e['off']+k] = 0xff
case('eh-frame-garbage', ehg)
def ehlen(d):
    e = sec('.eh_frame'); put(d, e['off'], '<I', 0xfffffff0)
case('eh-frame-length', ehlen)
cases['truncated-header'] = bytearray(src[:40])
cases['truncated-sections'] = bytearray(src[:sym['off']+10])
for n, d in cases.items():
    open(f'{n}.o','wb').write(d)
# archives
def member(name, data, size=None):
    size = len(data) if size is None else size
    h = f'{name:<16}{0:<12}{0:<6}{0:<6}{644:<8o}'.encode() + f'{size:<10}'.encode()[:10] + b'`\n'
    assert len(h) == 60, len(h)
    return h + data + (b'\n' if len(data) % 2 else b'')
arch = b'!<arch>\n'
open('archive-member-size-huge.a','wb').write(arch + member('base.o/', src, 9999999999))
open('archive-member-size-garbage.a','wb').write(arch + member('base.o/', src)[:48] + b'zz12345678`\n' + src)
open('archive-truncated-member.a','wb').write(arch + member('base.o/', src)[:60+100])
symtab = struct.pack('>I', 3) + struct.pack('>III', 8, 99999999, 8) + b'main\0'
open('archive-symtab-bad-offsets.a','wb').write(arch + member('/', symtab) + member('base.o/', src))
open('archive-symtab-count-huge.a','wb').write(arch + member('/', struct.pack('>I', 0x7fffffff)) + member('base.o/', src))
open('archive-long-name-offset.a','wb').write(arch + member('//', b'x.o/\n') + member('/999999', src))
