"""Register-blocked GEMM micro-kernels for the layer kernels (``kernels.py``).

Plain Numba loops did not keep an accumulator tile in registers (LLVM
vectorised the wrong loop and emitted gathers), so the micro-kernel is
written as LLVM IR through ``numba.extending.intrinsic``, with explicit
``<16 x T>`` vector accumulators and ``llvm.fma``; LLVM legalises the 16-lane
vectors to whatever the CPU has (one zmm with AVX-512, two ymm with AVX2,
four q registers with NEON).  The readable statement of what every layer
computes is ``reference_kernels.py``; tests hold the two together.

``_gemm(R, V, ...)`` computes, for a tile of R rows x 16*V columns::

    for m in range(M), c in range(NCOL):
        C[crow[m] + c] += sum_{s1<n1, s2<n2, i<L}
              A[arow[m] + s1*as1 + s2*as2 + i*astep] * B[b0 + s1*bs1 + s2*bs2 + i*bstep + c]

optionally followed by ReLU on the result.  R and V are compile-time
literals; NCOL must be a multiple of 16*V (``_gemm_any`` sends the remaining
columns to the scalar ``_gemm_cols``).  Row tails are clamped on load and
masked on store.  ``_dotk`` is the dot-product form used for the input
gradient of a dense layer (reduction over the contiguous output dimension).
"""
import numba
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from llvmlite import ir

_NJ = dict(cache=True, fastmath=True, boundscheck=False, error_model='numpy')
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
VL = 16  # vector lanes per accumulator (one zmm for float32, two for float64)


def _ptr_of(context, builder, aty, val):
    return context.make_array(aty)(context, builder, value=val).data


@intrinsic(prefer_literal=True)
def _gemm(typingctx, R, V, C, crow, A, arow, B, b0, M, NCOL, n1, as1, bs1,
          n2, as2, bs2, L, astep, bstep, relu):
    if not (isinstance(R, types.IntegerLiteral) and isinstance(V, types.IntegerLiteral)):
        return None
    RR, VV = R.literal_value, V.literal_value
    sig = types.void(R, V, C, crow, A, arow, B, b0, M, NCOL, n1, as1, bs1,
                     n2, as2, bs2, L, astep, bstep, relu)

    def codegen(context, builder, signature, args):
        (_, _, Cv, crowv, Av, arowv, Bv, b0v, Mv, NCOLv, n1v, as1v, bs1v,
         n2v, as2v, bs2v, Lv, astepv, bstepv, reluv) = args
        at = signature.args
        lty = context.get_data_type(at[2].dtype)
        isz = context.get_abi_sizeof(lty)
        vt = ir.VectorType(lty, VL)
        vpt = vt.as_pointer()
        cp = _ptr_of(context, builder, at[2], Cv)
        ap = _ptr_of(context, builder, at[4], Av)
        bp = _ptr_of(context, builder, at[6], Bv)
        crp = _ptr_of(context, builder, at[3], crowv)
        arp = _ptr_of(context, builder, at[5], arowv)
        ints = [context.cast(builder, v, t, types.int64) for v, t in
                ((b0v, at[7]), (Mv, at[8]), (NCOLv, at[9]), (n1v, at[10]), (as1v, at[11]),
                 (bs1v, at[12]), (n2v, at[13]), (as2v, at[14]), (bs2v, at[15]),
                 (Lv, at[16]), (astepv, at[17]), (bstepv, at[18]))]
        b0i, Mi, NCi, n1i, as1i, bs1i, n2i, as2i, bs2i, Li, asti, bsti = ints
        relub = context.cast(builder, reluv, at[19], types.boolean)
        sfx = 'v%df%d' % (VL, 8 * isz)
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt, vt, vt]),
                                             'llvm.fma.' + sfx)
        zero = ir.Constant(vt, None)
        undef = ir.Constant(vt, ir.Undefined)
        smask = ir.Constant(ir.VectorType(_I32, VL), [0] * VL)
        accs = [[cgutils.alloca_once(builder, vt) for _ in range(VV)] for _ in range(RR)]
        one = ir.Constant(_I64, 1)
        CW = VV * VL

        def vload(base, off):
            p = builder.bitcast(builder.gep(base, [off]), vpt)
            return builder.load(p, align=isz)

        def vstore(val, base, off):
            p = builder.bitcast(builder.gep(base, [off]), vpt)
            builder.store(val, p, align=isz)

        ntiles = builder.sdiv(builder.add(Mi, ir.Constant(_I64, RR - 1)), ir.Constant(_I64, RR))
        nch = builder.sdiv(NCi, ir.Constant(_I64, CW))
        with cgutils.for_range(builder, ntiles) as tl:
            m0 = builder.mul(tl.index, ir.Constant(_I64, RR))
            arows, crows, valid = [], [], []
            lastm = builder.sub(Mi, one)
            for r in range(RR):
                m = builder.add(m0, ir.Constant(_I64, r))
                ok = builder.icmp_signed('<', m, Mi)
                mc = builder.select(ok, m, lastm)
                arows.append(builder.load(builder.gep(arp, [mc])))
                crows.append(builder.load(builder.gep(crp, [mc])))
                valid.append(ok)
            with cgutils.for_range(builder, nch) as cl:
                c0 = builder.mul(cl.index, ir.Constant(_I64, CW))
                for r in range(RR):
                    for v in range(VV):
                        builder.store(zero, accs[r][v])
                with cgutils.for_range(builder, n1i) as l1:
                    a1 = builder.mul(l1.index, as1i)
                    bb1 = builder.add(builder.add(b0i, c0), builder.mul(l1.index, bs1i))
                    with cgutils.for_range(builder, n2i) as l2:
                        a2 = builder.add(a1, builder.mul(l2.index, as2i))
                        bb2 = builder.add(bb1, builder.mul(l2.index, bs2i))
                        with cgutils.for_range(builder, Li) as li:
                            aoff = builder.add(a2, builder.mul(li.index, asti))
                            boff = builder.add(bb2, builder.mul(li.index, bsti))
                            bvs = [vload(bp, builder.add(boff, ir.Constant(_I64, v * VL)))
                                   for v in range(VV)]
                            for r in range(RR):
                                a = builder.load(builder.gep(ap, [builder.add(arows[r], aoff)]))
                                av = builder.insert_element(undef, a, ir.Constant(_I32, 0))
                                av = builder.shuffle_vector(av, undef, smask)
                                for v in range(VV):
                                    acc = builder.load(accs[r][v])
                                    builder.store(builder.call(fma, [av, bvs[v], acc]), accs[r][v])
                # epilogue: C += acc (optionally relu), only for valid rows
                for r in range(RR):
                    with builder.if_then(valid[r], likely=True):
                        for v in range(VV):
                            off = builder.add(builder.add(crows[r], c0), ir.Constant(_I64, v * VL))
                            val = builder.fadd(vload(cp, off), builder.load(accs[r][v]))
                            pos = builder.fcmp_ordered('>', val, zero)
                            rv = builder.select(pos, val, zero)
                            val = builder.select(relub, rv, val)
                            vstore(val, cp, off)
        return context.get_dummy_value()

    return sig, codegen


def _hsum(builder, v):
    n = v.type.count
    while n > 1:
        h = n // 2
        lo = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, h), list(range(h))))
        hi = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, h), list(range(h, n))))
        v = builder.fadd(lo, hi)
        n = h
    return builder.extract_element(v, ir.Constant(_I32, 0))


@intrinsic(prefer_literal=True)
def _dotk(typingctx, RK, RN, dx, dy, w, N, K, O, O16):
    """dx[n*K+k] += sum_{o<O16} dy[n*O+o] * w[k*O+o]   (O16 multiple of 16).
    Tile: RK rows of w x RN rows of dy, vector partial sums, horizontal sum at the end."""
    if not (isinstance(RK, types.IntegerLiteral) and isinstance(RN, types.IntegerLiteral)):
        return None
    rk, rn = RK.literal_value, RN.literal_value
    sig = types.void(RK, RN, dx, dy, w, N, K, O, O16)

    def codegen(context, builder, signature, args):
        at = signature.args
        lty = context.get_data_type(at[2].dtype)
        isz = context.get_abi_sizeof(lty)
        vt = ir.VectorType(lty, VL)
        vpt = vt.as_pointer()
        dxp = _ptr_of(context, builder, at[2], args[2])
        dyp = _ptr_of(context, builder, at[3], args[3])
        wp = _ptr_of(context, builder, at[4], args[4])
        Ni, Ki, Oi, O16i = [context.cast(builder, args[j], at[j], types.int64) for j in (5, 6, 7, 8)]
        sfx = 'v%df%d' % (VL, 8 * isz)
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt, vt, vt]),
                                             'llvm.fma.' + sfx)
        zero = ir.Constant(vt, None)
        accs = [[cgutils.alloca_once(builder, vt) for _ in range(rn)] for _ in range(rk)]
        one = ir.Constant(_I64, 1)

        def vload(base, off):
            p = builder.bitcast(builder.gep(base, [off]), vpt)
            return builder.load(p, align=isz)

        nkt = builder.sdiv(builder.add(Ki, ir.Constant(_I64, rk - 1)), ir.Constant(_I64, rk))
        nnt = builder.sdiv(builder.add(Ni, ir.Constant(_I64, rn - 1)), ir.Constant(_I64, rn))
        nch = builder.sdiv(O16i, ir.Constant(_I64, VL))
        with cgutils.for_range(builder, nkt) as kl:
            k0 = builder.mul(kl.index, ir.Constant(_I64, rk))
            ks, kok = [], []
            for r in range(rk):
                k = builder.add(k0, ir.Constant(_I64, r))
                ok = builder.icmp_signed('<', k, Ki)
                ks.append(builder.select(ok, k, builder.sub(Ki, one)))
                kok.append(ok)
            wrow = [builder.mul(k, Oi) for k in ks]
            with cgutils.for_range(builder, nnt) as nl:
                n0 = builder.mul(nl.index, ir.Constant(_I64, rn))
                ns, nok = [], []
                for q in range(rn):
                    n = builder.add(n0, ir.Constant(_I64, q))
                    ok = builder.icmp_signed('<', n, Ni)
                    ns.append(builder.select(ok, n, builder.sub(Ni, one)))
                    nok.append(ok)
                dyrow = [builder.mul(n, Oi) for n in ns]
                for r in range(rk):
                    for q in range(rn):
                        builder.store(zero, accs[r][q])
                with cgutils.for_range(builder, nch) as cl:
                    o = builder.mul(cl.index, ir.Constant(_I64, VL))
                    wv = [vload(wp, builder.add(wrow[r], o)) for r in range(rk)]
                    dv = [vload(dyp, builder.add(dyrow[q], o)) for q in range(rn)]
                    for r in range(rk):
                        for q in range(rn):
                            builder.store(builder.call(fma, [wv[r], dv[q], builder.load(accs[r][q])]),
                                          accs[r][q])
                for r in range(rk):
                    for q in range(rn):
                        s = _hsum(builder, builder.load(accs[r][q]))
                        with builder.if_then(builder.and_(kok[r], nok[q]), likely=True):
                            p = builder.gep(dxp, [builder.add(builder.mul(ns[q], Ki), ks[r])])
                            builder.store(builder.fadd(builder.load(p), s), p)
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(**_NJ)
def _gemm_cols(C, crow, A, arow, B, b0, M, c0, c1, n1, as1, bs1, n2, as2, bs2, L,
               astep, bstep, relu):
    """Scalar fallback of _gemm for columns c0..c1-1 (same semantics).
    Dot-product form with 4 independent partial sums (breaks the add-latency chain)."""
    for m in range(M):
        ar = arow[m]
        cr = crow[m]
        for c in range(c0, c1):
            s0 = 0.0
            s1_ = 0.0
            s2_ = 0.0
            s3 = 0.0
            for s1 in range(n1):
                for s2 in range(n2):
                    ab = ar + s1 * as1 + s2 * as2
                    bb = b0 + s1 * bs1 + s2 * bs2 + c
                    i = 0
                    while i + 4 <= L:
                        s0 += A[ab + i * astep] * B[bb + i * bstep]
                        s1_ += A[ab + (i + 1) * astep] * B[bb + (i + 1) * bstep]
                        s2_ += A[ab + (i + 2) * astep] * B[bb + (i + 2) * bstep]
                        s3 += A[ab + (i + 3) * astep] * B[bb + (i + 3) * bstep]
                        i += 4
                    while i < L:
                        s0 += A[ab + i * astep] * B[bb + i * bstep]
                        i += 1
            v = C[cr + c] + ((s0 + s1_) + (s2_ + s3))
            if relu and v < 0:
                v = 0.0
            C[cr + c] = v


@numba.njit(**_NJ)
def _gemm_any(C, crow, A, arow, B, b0, M, NCOL, n1, as1, bs1, n2, as2, bs2, L,
              astep, bstep, relu):
    """Dispatch on the number of columns to a suitably shaped micro-kernel."""
    done = 0
    if M >= 4:
        if NCOL >= 64:
            done = NCOL // 64 * 64
            _gemm(5, 4, C, crow, A, arow, B, b0, M, done, n1, as1, bs1, n2, as2, bs2, L,
                  astep, bstep, relu)
    elif M == 1:
        # GEMV: one pass over 256 contiguous columns of B per row (memory-bound)
        if NCOL >= 256:
            done = NCOL // 256 * 256
            _gemm(1, 16, C, crow, A, arow, B, b0, M, done, n1, as1, bs1, n2, as2, bs2, L,
                  astep, bstep, relu)
        if NCOL - done >= 64:
            n = (NCOL - done) // 64 * 64
            _gemm(1, 4, C[done:], crow, A, arow, B[done:], b0, M, n, n1, as1, bs1, n2,
                  as2, bs2, L, astep, bstep, relu)
            done += n
    else:
        if NCOL >= 128:
            done = NCOL // 128 * 128
            _gemm(3, 8, C, crow, A, arow, B, b0, M, done, n1, as1, bs1, n2, as2, bs2, L,
                  astep, bstep, relu)
    if NCOL - done >= 32:
        n = (NCOL - done) // 32 * 32
        _gemm(6, 2, C[done:], crow, A, arow, B[done:], b0, M, n, n1, as1, bs1, n2,
              as2, bs2, L, astep, bstep, relu)
        done += n
    if NCOL - done >= 16:
        n = (NCOL - done) // 16 * 16
        _gemm(12, 1, C[done:], crow, A, arow, B[done:], b0, M, n, n1, as1, bs1, n2,
              as2, bs2, L, astep, bstep, relu)
        done += n
    if done < NCOL:
        _gemm_cols(C, crow, A, arow, B, b0, M, done, NCOL, n1, as1, bs1, n2, as2, bs2,
                   L, astep, bstep, relu)
