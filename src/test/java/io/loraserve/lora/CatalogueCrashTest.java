package io.loraserve.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code kill -9} at any instant leaves the state file holding an acknowledged catalogue: a small process
 * ({@link Writer}) writes a burst of catalogue changes through the real {@link CatalogueFile}, printing each state
 * before writing it and an acknowledgement after; it is killed at a random point, the file is read with the real
 * reader, and it must be the last acknowledged state or the one being written — never a torn one. Each run starts
 * from what the previous kill left, its temporary file included.
 *
 * <p>What a kill cannot show: losing power after a write returned. That is what the fsyncs are for.
 */
class CatalogueCrashTest {
    private static final int KILLS = 200;

    /** The child: changes a catalogue and writes it, forever (bounded), printing {@code WRITE <state>} then {@code ACK}. */
    static final class Writer {
        public static void main(String[] args) throws Exception {
            CatalogueFile file = new CatalogueFile(Path.of(args[0]));
            SplittableRandom rng = new SplittableRandom(Long.parseLong(args[1]));
            List<CatalogueFile.Entry> state = new ArrayList<>(file.read());
            PrintStream out = System.out;
            out.println("START " + state);
            out.flush();
            int writes = args.length > 2 ? Integer.parseInt(args[2]) : 100_000;
            for (int i = 0; i < writes; i++) {
                change(state, rng);
                out.println("WRITE " + state);
                out.flush();
                file.write(List.copyOf(state));
                out.println("ACK");
                out.flush();
                if (out.checkError()) {
                    return;  // the test is gone
                }
            }
        }

        /** One admin change: load, unload, pin or unpin, or replace; paths of varied length so sizes differ. */
        private static void change(List<CatalogueFile.Entry> state, SplittableRandom rng) {
            int op = state.isEmpty() ? 0 : rng.nextInt(state.size() < 40 ? 4 : 3) + (state.size() < 40 ? 0 : 1);
            if (op == 0) {
                state.add(new CatalogueFile.Entry("a" + rng.nextInt(1_000_000), path(rng), false, sha(rng)));
                return;
            }
            int i = rng.nextInt(state.size());
            CatalogueFile.Entry e = state.get(i);
            switch (op) {
                case 1 -> state.remove(i);
                case 2 -> state.set(i, new CatalogueFile.Entry(e.name(), e.path(), !e.pinned(), e.sha256()));
                default -> state.set(i, new CatalogueFile.Entry(e.name(), path(rng), e.pinned(), sha(rng)));
            }
        }

        private static Path path(SplittableRandom rng) {
            return Path.of("/srv/adaptér", "x".repeat(1 + rng.nextInt(200)), String.valueOf(rng.nextInt(1000)));
        }

        private static String sha(SplittableRandom rng) {
            byte[] b = new byte[32];
            rng.nextBytes(b);
            return HexFormat.of().formatHex(b);
        }
    }

    @Test
    void killedAtAnyInstantTheFileHoldsAnAcknowledgedCatalogue(@TempDir Path dirs, @TempDir Path tools)
            throws Exception {
        List<String> java = writerJava(tools);
        long started = System.nanoTime();
        // Two lanes of kills at once, each in a directory of its own: the runs mostly wait for a JVM to start.
        List<Future<Kills>> lanes = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(2)) {
            for (int lane = 0; lane < 2; lane++) {
                Path dir = Files.createDirectory(dirs.resolve("lane" + lane));
                long seed = 15 + lane;
                lanes.add(pool.submit(() -> killRepeatedly(java, dir, new SplittableRandom(seed), KILLS / 2)));
            }
        }
        int midWrite = 0;
        int acknowledged = 0;
        for (Future<Kills> lane : lanes) {
            midWrite += lane.get().midWrite();
            acknowledged += lane.get().acknowledged();
        }
        System.out.printf("%d kills in %.1f s: %d during a write, %d writes acknowledged%n", KILLS,
                (System.nanoTime() - started) / 1e9, midWrite, acknowledged);
        // Kills must have landed inside writes too, not only between them (most do where an fsync takes milliseconds).
        assertTrue(midWrite >= KILLS / 10, midWrite + " of " + KILLS + " kills landed during a write");
        assertTrue(acknowledged > 0, "no write was acknowledged before its kill");
    }

    /** How many kills landed between a WRITE and its ACK, and how many writes were acknowledged. */
    private record Kills(int midWrite, int acknowledged) {
    }

    /** Starts a writer on {@code dir} and kills it at a random point, {@code n} times, checking the file after each. */
    private static Kills killRepeatedly(List<String> java, Path dir, SplittableRandom rng, int n) throws Exception {
        int midWrite = 0;
        int acknowledged = 0;
        for (int kill = 0; kill < n; kill++) {
            List<String> command = new ArrayList<>(java);
            command.addAll(List.of(dir.toString(), String.valueOf(rng.nextLong())));
            Path stderr = dir.resolveSibling(dir.getFileName() + "-stderr.txt");
            Process child = new ProcessBuilder(command).redirectError(stderr.toFile()).start();
            BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
            List<String> lines = new ArrayList<>();
            lines.add(out.readLine());  // START, once it has read the state
            lines.add(out.readLine());  // its first WRITE: kill from here, within about three writes
            LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(rng.nextLong(60_000)));
            child.toHandle().destroyForcibly();  // SIGKILL; Process.destroyForcibly would also close its output
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
            lines.addAll(drain(out));
            String where = dir.getFileName() + " run " + kill;
            if (lines.get(0) == null || !lines.get(0).startsWith("START ")) {
                fail(where + ": the writer did not start: " + lines + "\n" + Files.readString(stderr));
            }
            String lastAcknowledged = lines.get(0).substring("START ".length());
            String writing = null;
            for (String line : lines.subList(1, lines.size())) {
                if (line == null) {
                    continue;
                } else if (line.startsWith("WRITE ")) {
                    writing = line.substring("WRITE ".length());
                } else if (line.equals("ACK")) {
                    lastAcknowledged = writing;
                    writing = null;
                    acknowledged++;
                } else {
                    fail(where + ": the writer said " + line);
                }
            }
            String onDisk;
            try {
                onDisk = new CatalogueFile(dir).read().toString();
            } catch (CatalogueFile.Unreadable e) {
                throw new AssertionError(where + ": torn state file: " + e.getMessage() + "\n"
                        + Files.readString(dir.resolve("state.json")), e);
            }
            if (writing != null) {
                midWrite++;
            }
            assertTrue(onDisk.equals(lastAcknowledged) || onDisk.equals(writing), where + ": on disk " + onDisk
                    + "\nlast acknowledged " + lastAcknowledged + "\nbeing written " + writing);
        }
        assertEquals(List.of(), leftovers(dir), "no file but the state and its temporary");
        return new Kills(midWrite, acknowledged);
    }

    /**
     * The command that runs {@link Writer}, made to start fast: a JVM's start-up is most of each run, so the writer's
     * few classes go into a jar of their own beside JSON-P, and one clean training run leaves an AOT cache (JEP 483)
     * that the killed runs start from. Without the cache (it needs jars only) a run takes about twice as long.
     */
    private static List<String> writerJava(Path tools) throws Exception {
        Path jar = tools.resolve("writer.jar");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
            for (Class<?> c : List.of(CatalogueFile.class, CatalogueFile.Entry.class, CatalogueFile.Unreadable.class,
                    CatalogueCrashTest.class, Writer.class)) {
                String entry = c.getName().replace('.', '/') + ".class";
                out.putNextEntry(new JarEntry(entry));
                try (InputStream in = c.getClassLoader().getResourceAsStream(entry)) {
                    in.transferTo(out);
                }
            }
        }
        String classPath = Stream.concat(Stream.of(jar.toString()), Stream.of(System.getProperty("java.class.path")
                .split(File.pathSeparator)).filter(p -> p.contains("jakarta.json") || p.contains("parsson")))
                .collect(Collectors.joining(File.pathSeparator));
        List<String> java = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xlog:all=warning:stderr",
                "-cp", classPath));
        Path cache = tools.resolve("writer.aot");
        List<String> training = new ArrayList<>(java);
        training.add(1, "-XX:AOTCacheOutput=" + cache);
        Files.createDirectories(tools.resolve("training"));
        training.addAll(List.of(Writer.class.getName(), tools.resolve("training").toString(), "0", "5"));
        Process p = new ProcessBuilder(training).redirectErrorStream(true).redirectOutput(tools.resolve("training.txt")
                .toFile()).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, Files.readString(tools.resolve("training.txt")));
        if (Files.isRegularFile(cache)) {
            java.add(1, "-XX:AOTCache=" + cache);
        }
        java.add(Writer.class.getName());
        return java;
    }

    private static List<String> drain(BufferedReader out) throws IOException {
        List<String> lines = new ArrayList<>();
        for (String line; (line = out.readLine()) != null; ) {
            lines.add(line);
        }
        return lines;
    }

    private static List<String> leftovers(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return files.map(f -> f.getFileName().toString())
                    .filter(n -> !n.equals("state.json") && !n.equals("state.json.tmp")).toList();
        }
    }
}
