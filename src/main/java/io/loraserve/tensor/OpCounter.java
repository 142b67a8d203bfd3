package io.loraserve.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.pytorch.global.torch;

/**
 * Counts what one thread asks of libtorch while the counter is open: the ATen operators it calls
 * (top-level dispatcher calls only, not the operators they call inside: on CUDA each is at least one
 * host-side dispatch, and each that computes, one kernel launch) and its host syncs, the points
 * where a host would wait for a GPU: every tensor copied into Java arrays ({@link Tensors}), every
 * upload too large to stage in pinned memory, and operators that read device values on the host
 * ({@link #SYNCING}). On a CPU nothing waits: the counts say what the same calls cost on CUDA.
 *
 * <p>libtorch reports operators to RecordFunction callbacks; JavaCPP does not map the callback type,
 * so the callback struct is written here field by field as libtorch 2.7's
 * {@code at::RecordFunctionCallback} lays it out (start, end, sampling probability, one flag per
 * RecordScope, then needs-inputs/outputs/ids) and the two callbacks are FFM upcall stubs
 * (lifetime: process, made once). Owns its thread-local callback registration, removed by
 * {@link #close}; open and close it on the same thread. For benchmarks and tests: every operator
 * of the counted thread costs two upcalls while it is open.
 */
public final class OpCounter implements AutoCloseable {
    /** Operators that copy a device value to the host before they return. */
    static final Set<String> SYNCING = Set.of("aten::_local_scalar_dense", "aten::item", "aten::nonzero",
            "aten::masked_select", "aten::unique", "aten::_unique2", "aten::unique_consecutive", "aten::is_nonzero",
            "aten::equal", "aten::allclose");
    /** Operators that only make a view (new sizes and strides over the same memory): no kernel on a GPU. */
    static final Set<String> VIEWS = Set.of("aten::view", "aten::narrow", "aten::slice", "aten::select",
            "aten::transpose", "aten::t", "aten::unsqueeze", "aten::squeeze", "aten::expand", "aten::permute",
            "aten::as_strided", "aten::alias", "aten::detach", "aten::_reshape_alias");
    private static final int CALLBACK_BYTES = 40;
    private static final int SCOPE_FUNCTION = 24;  // offset of scopes_[RecordScope::FUNCTION]
    private static final ThreadLocal<OpCounter> CURRENT = new ThreadLocal<>();
    private static Stubs stubs;

    private final Thread owner = Thread.currentThread();
    private final long handle;
    private final Map<String, Long> byName = new TreeMap<>();
    private int depth;
    private long ops;
    private long views;
    private long syncs;
    private long syncBytes;

    private OpCounter() {
        if (CURRENT.get() != null) {
            throw new IllegalStateException("this thread already has an open OpCounter");
        }
        Stubs s = stubs();
        try (BytePointer cb = new BytePointer(CALLBACK_BYTES)) {
            MemorySegment m = MemorySegment.ofAddress(cb.address()).reinterpret(CALLBACK_BYTES);
            m.fill((byte) 0);
            m.set(ValueLayout.JAVA_LONG, 0, s.start.address());
            m.set(ValueLayout.JAVA_LONG, 8, s.end.address());
            m.set(ValueLayout.JAVA_DOUBLE, 16, 1.0);
            m.set(ValueLayout.JAVA_BYTE, SCOPE_FUNCTION, (byte) 1);  // operators only
            CURRENT.set(this);
            this.handle = torch.addThreadLocalCallback(cb);  // copies the struct
        }
    }

    /** Starts counting on the calling thread. */
    public static OpCounter open() {
        return new OpCounter();
    }

    /** Called where the host reads {@code bytes} of device memory or waits for an upload. */
    static void hostSync(long bytes) {
        OpCounter c = CURRENT.get();
        if (c != null) {
            c.syncs++;
            c.syncBytes += bytes;
        }
    }

    /** Top-level operators called so far. */
    public long ops() {
        return ops;
    }

    /** Of {@link #ops}, those that only made a view ({@link #VIEWS}). */
    public long views() {
        return views;
    }

    /** Host syncs so far. */
    public long syncs() {
        return syncs;
    }

    /** Bytes the host synchronously copied from the device or to it. */
    public long syncBytes() {
        return syncBytes;
    }

    /** Top-level operators by name (e.g. {@code aten::linear}). */
    public Map<String, Long> byName() {
        return Map.copyOf(byName);
    }

    @Override
    public void close() {
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("close an OpCounter on the thread that opened it");
        }
        torch.removeCallback(handle);
        CURRENT.remove();
    }

    private void started(MemorySegment fn) {
        if (depth++ > 0) {
            return;
        }
        ops++;
        String name = stubs.name(fn);
        byName.merge(name, 1L, Long::sum);
        if (VIEWS.contains(name)) {
            views++;
        }
        if (SYNCING.contains(name)) {
            syncs++;
        }
    }

    /** {@code std::unique_ptr<ObserverContext> start(const RecordFunction&)}: returned through a hidden pointer. */
    private static MemorySegment onStart(MemorySegment result, MemorySegment fn) {
        result.reinterpret(8).set(ValueLayout.JAVA_LONG, 0, 0L);  // no ObserverContext
        OpCounter c = CURRENT.get();
        if (c != null) {
            c.started(fn);
        }
        return result;
    }

    /** {@code void end(const RecordFunction&, ObserverContext*)}. */
    private static void onEnd(MemorySegment fn, MemorySegment context) {
        OpCounter c = CURRENT.get();
        if (c != null) {
            c.depth--;
        }
    }

    private static synchronized Stubs stubs() {
        if (stubs == null) {
            stubs = new Stubs();
        }
        return stubs;
    }

    /** The upcall stubs and a downcall to {@code at::RecordFunction::name()} (lifetime: process). */
    private static final class Stubs {
        final MemorySegment start;
        final MemorySegment end;
        private final MethodHandle name;

        Stubs() {
            try {
                Linker linker = Linker.nativeLinker();
                MethodHandles.Lookup lookup = MethodHandles.lookup();
                start = linker.upcallStub(lookup.findStatic(OpCounter.class, "onStart", MethodType.methodType(
                                MemorySegment.class, MemorySegment.class, MemorySegment.class)),
                        FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS),
                        Arena.global());
                end = linker.upcallStub(lookup.findStatic(OpCounter.class, "onEnd", MethodType.methodType(
                                void.class, MemorySegment.class, MemorySegment.class)),
                        FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS), Arena.global());
                Loader.load(torch.class);
                String lib = Loader.getLoadedLibraries().values().stream()
                        .filter(p -> p.endsWith("/libtorch_cpu.so")).findFirst()
                        .orElseThrow(() -> new IllegalStateException("libtorch_cpu.so is not loaded"));
                MemorySegment fn = SymbolLookup.libraryLookup(Path.of(lib), Arena.global())
                        .find("_ZNK2at14RecordFunction4nameEv").orElseThrow();
                name = linker.downcallHandle(fn, FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        }

        String name(MemorySegment fn) {
            try {
                return ((MemorySegment) name.invokeExact(fn)).reinterpret(Long.MAX_VALUE).getString(0);
            } catch (Throwable e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
