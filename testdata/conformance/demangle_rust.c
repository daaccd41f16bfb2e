/* References to a legacy Rust symbol (with its crate hash) and a v0 one; defined nowhere. */
extern int _ZN4core3fmt5write17h0123456789abcdefE(void);
extern int _RNvCs1234_7mycrate3foo(void);

int use_rust_names(void) {
    return _ZN4core3fmt5write17h0123456789abcdefE() + _RNvCs1234_7mycrate3foo();
}
