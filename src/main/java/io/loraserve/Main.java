package io.loraserve;

import io.loraserve.config.Options;
import io.loraserve.config.OptionsException;
import io.loraserve.model.Kernels;
import io.loraserve.server.LoraServer;
import io.loraserve.tensor.NativeMemory;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/** The launcher: reads options, starts a {@link LoraServer}, prints one line when ready. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        NativeMemory.configure();
        if (java.util.Arrays.asList(args).contains("--help")) {
            System.out.println(Options.help());
            return;
        }
        LoraServer.configureLogging();
        Options options;
        try {
            options = Options.parse(args, LoraServer.optionSource());
        } catch (OptionsException e) {
            System.err.println("loraserve: " + e.getMessage());
            System.exit(2);
            return;
        }
        leaveCoresToTheKernels(options);
        LoraServer server;
        try {
            server = LoraServer.start(options, home());
        } catch (RuntimeException e) {
            System.err.println("loraserve: cannot start: " + e.getMessage());
            System.exit(1);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(server::close, "shutdown"));
        drainOnSigterm(server, options.http().shutdownGrace());
        System.out.println(server.readyLine(options.http().host()));
    }

    /**
     * The Java kernels keep {@code --threads} cores busy through every pass, so the virtual threads
     * that serve HTTP get the cores left over, at least one. With their default (a carrier per
     * core) carriers woke beside both kernel threads on a 2-core machine and a single stream fell
     * from 71-76 to 47-63 tok/s (compare.py, non-streaming). Must run before the first virtual
     * thread exists; a value the user set is kept.
     */
    private static void leaveCoresToTheKernels(Options o) {
        String key = "jdk.virtualThreadScheduler.parallelism";
        boolean javaKernels = o.engine().model().device().equals("cpu") && !o.engine().model().dtype().equals("float16") && !o.engine().model().kernels().equals("torch")
                && Kernels.vectorApi();
        if (javaKernels && System.getProperty(key) == null) {
            System.setProperty(key, String.valueOf(Math.max(1, Runtime.getRuntime().availableProcessors() - o.engine().model().threads())));
        }
    }

    /**
     * SIGTERM drains the server ({@link LoraServer#shutdownGracefully}) and exits 0. A shutdown
     * hook cannot do this: hooks run beside java.util.logging's own hook, which silences every
     * logger during the drain, and the JVM would exit 143. {@code sun.misc.Signal} is the JDK's
     * supported handle on signals (module jdk.unsupported); javac warns about it by design.
     * Other exits (Ctrl-C, System.exit) still close at once through the shutdown hook.
     */
    private static void drainOnSigterm(LoraServer server, Duration grace) {
        sun.misc.Signal.handle(new sun.misc.Signal("TERM"), signal -> {
            try {
                server.shutdownGracefully(grace);
            } finally {
                System.exit(0);
            }
        });
    }

    /**
     * The project directory: {@code -Dloraserve.home}, else the folder above {@code target/} that
     * holds the running jar, else the working directory.
     */
    static Path home() {
        String prop = System.getProperty("loraserve.home");
        if (prop != null) {
            return Path.of(prop);
        }
        try {
            Path code = Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            Path candidate = code.getParent() == null ? null : code.getParent().getParent();
            if (candidate != null && Files.isDirectory(candidate.resolve("demo"))) {
                return candidate;
            }
        } catch (URISyntaxException | SecurityException e) {
            // fall through to the working directory
        }
        return Path.of("").toAbsolutePath();
    }
}
