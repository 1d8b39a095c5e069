/* Linked into the test and tool executables of sanitizer builds only (DVK_SANITIZE=ON).
 *
 * The Vulkan loader dlcloses the driver (lavapipe) and the validation layer when an instance
 * is destroyed. Both keep heap memory reachable only from their own global variables; once they
 * are unmapped, LeakSanitizer no longer sees those references and reports the memory as leaked,
 * with stacks it cannot symbolise ("<unknown module>"). We checked this: with the libraries
 * kept loaded, the reports vanish (Mesa 22.3.6 lavapipe, Debian vulkan-validationlayers
 * 1.3.239) — they are not leaks of deltavk.
 *
 * Rather than suppress reports we cannot attribute, this definition, which the executable
 * interposes over libc's, makes dlclose keep every module mapped. Our own allocations are
 * unaffected and still checked; Vulkan objects we forgot to destroy are reported by the
 * validation layer, which the tests count as failures. */
int dlclose(void *handle);

int dlclose(void *handle)
{
    (void)handle;
    return 0;
}
