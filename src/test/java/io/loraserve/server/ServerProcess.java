package io.loraserve.server;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** {@code java io.loraserve.Main} in a child process on the test class path, as a user starts it. */
record ServerProcess(Process process, int port) {
    private static final Pattern READY = Pattern.compile("loraserve listening on http://127\\.0\\.0\\.1:(\\d+) .*");

    /**
     * Starts Main with {@code args} (its stderr in {@code logs/stderr.txt}) and waits up to 60 s for
     * its ready line; the public port is read from it. Without one the process is killed and the
     * test fails with what it printed.
     */
    static ServerProcess start(Path logs, List<String> args) throws Exception {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "io.loraserve.Main"));
        command.addAll(args);
        Path stderr = logs.resolve("stderr.txt");
        Process p = new ProcessBuilder(command).redirectError(stderr.toFile()).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line = CompletableFuture.supplyAsync(() -> {
            try {
                return out.readLine();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }).get(60, TimeUnit.SECONDS);
        Matcher m = READY.matcher(String.valueOf(line));
        if (!m.matches()) {
            p.destroyForcibly();
            throw new AssertionError("no ready line but: " + line + "\n" + Files.readString(stderr));
        }
        return new ServerProcess(p, Integer.parseInt(m.group(1)));
    }
}
