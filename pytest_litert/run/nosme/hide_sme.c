/*
 * hide_sme.c: an LD_PRELOAD library that hides SME and SME2 from getauxval().
 *
 * Part of pytest-litert (run/nosme/). XNNPACK, inside the aarch64 ai-edge-litert
 * libraries, learns about SME2 from getauxval(AT_HWCAP2), which both libraries import
 * dynamically (U getauxval@GLIBC_2.17). Preloaded, this getauxval answers as the C
 * library does, with every SME-related bit cleared, so XNNPACK picks its NEON kernels on
 * an SME2 CPU: the same machine, with and without KleidiAI's SME2 kernels.
 *
 * The bits are the kernel's (arch/arm64/include/uapi/asm/hwcap.h). A CPU without SME
 * reports none of SME's extensions, so all of them go, not only SME (bit 23) and SME2
 * (bit 37): a library that asked for SME2p1 alone would otherwise still take an SME path.
 *
 * Built by pytest-litert with this machine's C compiler on first use:
 *     cc -shared -fPIC -O2 -o libhide_sme.so hide_sme.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

#define AT_HWCAP_TYPE 16  /* AT_HWCAP */
#define AT_HWCAP2_TYPE 26 /* AT_HWCAP2 */

/* AT_HWCAP2: SME (23), SME_I16I64, SME_F64F64, SME_I8I32, SME_F16F32, SME_B16F32,
   SME_F32F32, SME_FA64 (24-30); SME2 (37), SME2P1, SME_I16I32, SME_BI32I32, SME_B16B16,
   SME_F16F16 (38-42); SME_LUTV2, SME_F8F16, SME_F8F32, SME_SF8FMA, SME_SF8DP4, SME_SF8DP2
   (57-62). */
#define HWCAP2_SME_BITS ((0xffUL << 23) | (0x3fUL << 37) | (0x3fUL << 57))
/* AT_HWCAP: SME2P2, SME_SBITPERM, SME_AES, SME_SFEXPA, SME_STMOP, SME_SMOP4 (42-47). */
#define HWCAP_SME_BITS (0x3fUL << 42)

typedef unsigned long (*auxval_fn)(unsigned long);

static unsigned long masked(unsigned long type, unsigned long value) {
    if (type == AT_HWCAP2_TYPE)
        return value & ~HWCAP2_SME_BITS;
    if (type == AT_HWCAP_TYPE)
        return value & ~HWCAP_SME_BITS;
    return value;
}

static auxval_fn next_definition(const char *name) {
    return (auxval_fn)dlsym(RTLD_NEXT, name);
}

unsigned long getauxval(unsigned long type) {
    static auxval_fn real;
    if (real == NULL)
        real = next_definition("getauxval");
    return real == NULL ? 0 : masked(type, real(type));
}

/* glibc's alias, used by libgcc's and compiler-rt's CPU feature resolvers. */
unsigned long __getauxval(unsigned long type) {
    static auxval_fn real;
    if (real == NULL)
        real = next_definition("__getauxval");
    return real == NULL ? getauxval(type) : masked(type, real(type));
}
