package io.loraserve.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The native set of the active Maven profile is complete: every library JavaCPP extracted for it
 * (the files in its cache, not what its links there point to outside it)
 * (libtorch_cpu.so and its neighbours on the CPU profile, libtorch_cuda.so and the CUDA
 * redistributables on -Pgpu) has every library it needs resolvable, as {@code ldd} resolves them
 * with the extracted directories searched first and then the system's. {@code scripts/gpu-check}
 * runs it on the -Pgpu build with {@code -Dloraserve.test.natives=libtorch_cuda.so}, so a CUDA
 * library missing there fails by name.
 */
class NativeLibrariesTest {
    @TempDir
    Path tmp;

    @Test
    void everyExtractedNativeFindsEveryLibraryItNeeds() throws IOException {
        Loader.load(torch.class);
        Path cache = real(Loader.getCacheDir().toPath());
        List<Path> dirs = Loader.getLoadedLibraries().values().stream().filter(p -> p.startsWith("/"))
                .map(p -> Path.of(p).getParent()).filter(d -> d.startsWith(cache)).distinct().toList();
        List<Path> libraries = libraries(dirs).stream().filter(p -> p.startsWith(cache)).toList();
        TreeSet<String> names = libraries.stream().map(p -> p.getFileName().toString())
                .collect(Collectors.toCollection(TreeSet::new));
        List<String> required = new ArrayList<>(List.of("libtorch_cpu.so", "libc10.so", "libjnitorch.so"));
        required.addAll(Arrays.stream(System.getProperty("loraserve.test.natives", "").split(","))
                .filter(s -> !s.isBlank()).toList());
        if (names.contains("libtorch_cuda.so")) {
            required.add("libc10_cuda.so");
        }
        for (String r : required) {
            assertTrue(names.contains(r), r + " is not among the extracted natives " + names + " in " + dirs);
        }
        Map<String, List<String>> missing = new LinkedHashMap<>();
        for (Path lib : libraries) {
            List<String> m = missing(lib, dirs);
            if (!m.isEmpty()) {
                missing.put(lib.getFileName().toString(), m);
            }
        }
        System.out.println("natives: " + libraries.size() + " libraries resolved in " + dirs + ": " + names);
        assertEquals(Map.of(), missing, "libraries the natives need and neither they nor the system have");
    }

    /** A real fault: libtorch.so copied away from libtorch_cpu.so, which it needs. */
    @Test
    void aLibraryWhoseDependencyIsAbsentIsNamed() throws IOException {
        Loader.load(torch.class);
        Path libtorch = Loader.getLoadedLibraries().values().stream().filter(p -> p.endsWith("/libtorch_cpu.so"))
                .map(p -> Path.of(p).resolveSibling("libtorch.so")).findFirst().orElseThrow();
        Path alone = Files.copy(libtorch, tmp.resolve("libtorch.so"));
        assertEquals(List.of("libtorch_cpu.so"), missing(alone, List.of(tmp)));
    }

    /**
     * The library files in {@code dirs}: links followed, dangling ones left out (JavaCPP links its optional
     * preloads, such as libcudart.so, to where a system CUDA would be, found or not).
     */
    private static List<Path> libraries(List<Path> dirs) {
        TreeSet<Path> files = new TreeSet<>();
        for (Path dir : dirs) {
            try (Stream<Path> s = Files.list(dir)) {
                s.filter(p -> p.getFileName().toString().matches("lib.*\\.so(\\.[0-9]+)*")).filter(Files::exists)
                        .map(NativeLibrariesTest::real).forEach(files::add);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return List.copyOf(files);
    }

    private static Path real(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The libraries {@code ldd} reports "not found" for {@code lib}, with {@code dirs} first on the search path. */
    private static List<String> missing(Path lib, List<Path> dirs) {
        ProcessBuilder pb = new ProcessBuilder("ldd", lib.toString()).redirectErrorStream(true);
        pb.environment().put("LD_LIBRARY_PATH", dirs.stream().map(Path::toString).collect(Collectors.joining(":")));
        try {
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "ldd " + lib + " finished");
            assertEquals(0, p.exitValue(), "ldd " + lib + ": " + out);
            return out.lines().filter(l -> l.contains("=> not found")).map(l -> l.strip().split("\\s+")[0]).toList();
        } catch (IOException e) {
            throw new UncheckedIOException("ldd is needed to check the natives", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
