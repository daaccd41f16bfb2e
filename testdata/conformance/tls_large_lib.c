/* Thread-local variables defined here and used from tls_large_main.c (extern TLS), and one
   only this file sees. Built with -mcmodel=large -fPIC and a dynamic TLS model, so every
   access is a __tls_get_addr call sequence the linker relaxes to local-exec. */
__thread int ext_counter = 100;
__thread long ext_array[4] = {1, 2, 3, 4};
static __thread int lib_private = 7;

int lib_bump(int k) {
    lib_private += k;
    ext_counter += k;
    return lib_private;
}
