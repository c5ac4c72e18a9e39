"""Lock-free atomic fetch-and-add on an int64 array element (LLVM ``atomicrmw``).

Why not a ``multiprocessing.Lock``: a lock is a named POSIX semaphore in
/dev/shm that can outlive a killed process group, and a worker killed while
holding it would block every other worker.  An atomic instruction has
neither problem.
"""
import numba
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _atomic_add(typingctx, array, index, value):
    if not (isinstance(array, types.Array) and array.dtype == types.int64):
        return None
    sig = types.int64(array, index, value)

    def codegen(context, builder, signature, args):
        arr_t, idx_t, val_t = signature.args
        arr = context.make_array(arr_t)(context, builder, args[0])
        idx = context.cast(builder, args[1], idx_t, types.intp)
        val = context.cast(builder, args[2], val_t, types.int64)
        ptr = cgutils.get_item_pointer(context, builder, arr_t, arr, [idx], wraparound=False)
        return builder.atomic_rmw("add", ptr, val, "seq_cst")    # returns the old value

    return sig, codegen


@numba.njit(cache=True)
def fetch_add(array, index, value):
    """array[index] += value atomically; returns the NEW value."""
    return _atomic_add(array, index, value) + value
