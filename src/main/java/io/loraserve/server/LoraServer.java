package io.loraserve.server;

import io.helidon.config.Config;
import io.helidon.logging.common.LogConfig;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.WebServerConfig;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.HttpService;
import io.loraserve.chat.ChatTemplate;
import io.loraserve.config.OptionSource;
import io.loraserve.config.Options;
import io.loraserve.constraint.ConstraintCache;
import io.loraserve.engine.ModelRuntime;
import io.loraserve.lora.AdapterException;
import io.loraserve.lora.AdapterRegistry;
import io.loraserve.lora.SavedCatalogue;
import io.loraserve.metrics.Metrics;
import io.loraserve.server.admin.AdminService;
import io.loraserve.server.http.AccessLog;
import io.loraserve.server.http.BearerAuth;
import io.loraserve.server.http.ConnectionLimits;
import io.loraserve.server.http.Cors;
import io.loraserve.server.http.ErrorHandling;
import io.loraserve.server.http.ListenerProbe;
import io.loraserve.server.http.MidHeadDisconnects;
import io.loraserve.server.http.ShutdownGate;
import io.loraserve.server.openai.ChatService;
import io.loraserve.server.openai.CompletionsService;
import io.loraserve.server.openai.GenerationBackend;
import io.loraserve.server.openai.ModelResolver;
import io.loraserve.server.openai.ModelsService;
import io.loraserve.server.openai.ServedModel;
import io.loraserve.server.openai.StructuredOutput;
import io.loraserve.server.openai.TokenizeService;
import io.loraserve.server.openai.ToolCalling;
import io.loraserve.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * One running loraserve: the model runtime, the tokenizer and two HTTP listeners (public API on
 * {@code --port}, admin API on {@code --admin-port}). Owns all of them; {@link #close()} stops
 * the listeners, then the engine, then frees native memory and the metrics, once.
 * {@link #shutdownGracefully} drains first. Tests start it on port 0.
 *
 * <p>Start-up order: the model, the command line's adapters, then with {@code --state-dir} the saved catalogue
 * (registered and pinned), and only then the listeners, so {@code /health/ready} answers 200 only with all of it in
 * place. An adapter given on the command line wins over a saved one of the same name.
 */
public final class LoraServer implements AutoCloseable {
    static final String ADMIN = "admin";
    private static final Logger LOG = Logger.getLogger(LoraServer.class.getName());
    /** After the grace period, how long cancelled requests get to send their 503s. */
    private static final Duration CANCEL_GRACE = Duration.ofSeconds(5);
    /** Connections the admin port holds at most: operators and probes, not the public. */
    static final int ADMIN_MAX_CONNECTIONS = 64;
    /** Compiled structured-output constraints kept (each with its memo of states and token masks). */
    static final int CONSTRAINT_CACHE = 256;
    /** Most connections the default {@code --max-connections} allows, whatever the open-file limit. */
    static final int MAX_CONNECTIONS_CEILING = 10_000;

    private final ModelRuntime runtime;
    private final Tokenizer tokenizer;
    private final ServedModel served;
    private final Metrics metrics;
    /** The catalogue in {@code --state-dir}, when given. */
    private final Optional<SavedCatalogue> saved;
    private final WebServer web;
    private final ShutdownGate gate = new ShutdownGate();
    private final ScheduledExecutorService connectionTimer = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("connection-limits").factory());
    private ConnectionLimits publicLimits;
    private ConnectionLimits adminLimits;
    private ListenerProbe publicListener;
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile boolean draining;

    private LoraServer(Options o, Path modelDir, List<Path> roots, Map<String, Path> preload) {
        ModelRuntime.requireDirectory(modelDir);
        String name = o.servedModelName() != null ? o.servedModelName() : modelDir.getFileName().toString();
        this.tokenizer = Tokenizer.load(modelDir);
        ModelRuntime rt = null;
        Metrics m = null;
        SavedCatalogue s = null;
        try {
            rt = ModelRuntime.load(modelDir, name, o.engine().withAdapterRoots(roots));
            ModelRuntime loaded = rt;
            LOG.info(() -> "model " + name + " on " + loaded.deviceName() + ", " + loaded.weightsDescription() + ", "
                    + loaded.kernels().name().toLowerCase(java.util.Locale.ROOT) + " kernels, " + o.engine().model().threads() + " threads"
                    + (loaded.gpuPolicy() ? ", GPU policy (batched LoRA bypass, sampling on the device)" : "")
                    + ", prefix caching " + (o.engine().cache().prefixCaching() ? "on" : "off"));
            LOG.info(() -> "model " + name + ": " + loaded.config().describe());
            m = new Metrics(name, o.api().metricsAdapterLabels(), rt.engine()::stats, rt.deviceMemory());
            m.maxLoras(rt.maxAdapters());
            m.kvBlockSize(rt.kvBlockSize());
            m.hostTier(rt.registry()::hostBytes, rt.registry().maxHostBytes());
            rt.setAdapterEvents(m);
            rt.registry().loadOnFirstUse(!o.engine().lora().roots().isEmpty() && o.adapters().lazy());
            rt.engine().setListener(m);
            AdapterRegistry registry = rt.registry();
            preload.forEach((adapter, dir) -> preload(registry, adapter, dir));
            if (o.adapters().stateDir() != null) {
                s = SavedCatalogue.open(o.adapters().stateDir(), registry);
                ModelRuntime pinning = rt;
                s.restore(pinning::pin);
            }
            this.saved = Optional.ofNullable(s);
            this.served = new ServedModel(name, rt.config().architecture(), rt.maxModelLen(), rt.config().vocab(),
                    System.currentTimeMillis() / 1000);
            this.runtime = rt;
            this.metrics = m;
            this.web = startWeb(o, rt, m);
        } catch (RuntimeException e) {
            if (s != null) {
                s.close();
            }
            if (rt != null) {
                rt.close();
            }
            if (m != null) {
                m.close();
            }
            tokenizer.close();
            connectionTimer.shutdownNow();
            throw e;
        }
    }

    private WebServer startWeb(Options o, ModelRuntime rt, Metrics m) {
        MetricsService metricsService = new MetricsService(m);
        AdapterRegistry registry = rt.registry();
        ModelResolver models = new ModelResolver(served, registry::servable, registry::names);
        HealthService health = new HealthService(this::notReadyReason, this::publicListenerDown);
        GenerationBackend backend = new GenerationBackend(rt.engine(), registry, tokenizer, models, o.api().maxN(),
                new ConstraintCache(() -> StructuredOutput.vocabulary(tokenizer, rt.config().eosTokenIds()), CONSTRAINT_CACHE));
        CompletionsService completions = new CompletionsService(backend);
        ChatTemplate template = new ChatTemplate(tokenizer.chatTemplate().orElse(null),
                tokenizer.bosToken().orElse(null), tokenizer.eosToken().orElse(null));
        ChatService chat = new ChatService(backend, template, new ToolCalling(o.api().toolCallParser(), o.api().enableAutoToolChoice()));
        AdminService admin = new AdminService(rt, saved.<Runnable>map(c -> c::save).orElse(() -> { }));
        List<Filter> filters = o.http().allowedOrigins().isEmpty() ? List.of(new AccessLog(), gate)
                : List.of(new AccessLog(), new Cors(o.http().allowedOrigins()), gate);
        MidHeadDisconnects.quiet();
        int maxConnections = maxConnections(o.http().maxConnections());
        publicLimits = new ConnectionLimits("public", "--max-connections", maxConnections, o.http().headerTimeout(),
                o.http().idleTimeout(), connectionTimer);
        adminLimits = new ConnectionLimits(ADMIN, "the admin port's cap", ADMIN_MAX_CONNECTIONS, o.http().headerTimeout(),
                o.http().idleTimeout(), connectionTimer);
        WebServerConfig.Builder b = WebServer.builder()
                .host(o.http().host())
                .port(o.http().port())
                .maxPayloadSize(o.http().maxBodyBytes())
                .directHandlers(ErrorHandling.directHandlers(o.http().maxBodyBytes()))
                .shutdownHook(false)
                .routing(r -> publicRouting(r, filters, o.http().apiKey(), completions, chat, new ModelsService(models),
                        new TokenizeService(models, tokenizer, template), health, metricsService, new VersionService(served.architecture())))
                .putSocket(ADMIN, s -> {
                    s.host(o.http().host()).port(o.http().adminPort()).maxPayloadSize(o.http().maxBodyBytes())
                            .directHandlers(ErrorHandling.directHandlers(o.http().maxBodyBytes()))
                            .routing(r -> adminRouting(r, admin, health, metricsService, o.http().adminKey()));
                    adminLimits.configure(s);
                });
        publicLimits.configure(b);
        WebServer started = b.build().start();
        if (started.port() < 0 || started.port(ADMIN) < 0) {  // Helidon logs the bind error and starts without it
            started.stop();
            publicLimits.stop();
            adminLimits.stop();
            throw new IllegalStateException("could not listen on " + o.http().host() + ":"
                    + (started.port() < 0 ? o.http().port() + " (--port)" : o.http().adminPort() + " (--admin-port)")
                    + ": the address is in use or not available");
        }
        publicListener = new ListenerProbe(o.http().host(), started::port);
        LOG.info("public port: at most " + maxConnections + " connections, request heads within "
                + o.http().headerTimeout().toSeconds() + " s, idle connections closed after " + o.http().idleTimeout().toSeconds() + " s");
        return started;
    }

    /**
     * {@code --max-connections}, or its default: half the process's open-file limit (the other half
     * stays for the model, libraries, adapter files and the admin port), at most
     * {@value #MAX_CONNECTIONS_CEILING}. A cap that leaves too few descriptors free is allowed with a
     * warning: when {@code accept} fails for want of one, Helidon ends the listener for good.
     */
    static int maxConnections(int configured) {
        long limit = -1;
        long inUse = -1;
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.UnixOperatingSystemMXBean unix) {
            limit = unix.getMaxFileDescriptorCount();
            inUse = unix.getOpenFileDescriptorCount();
        }
        if (configured == 0) {
            return limit <= 0 ? MAX_CONNECTIONS_CEILING : (int) Math.max(1, Math.min(MAX_CONNECTIONS_CEILING, limit / 2));
        }
        long needed = inUse + configured + ADMIN_MAX_CONNECTIONS + 128;
        if (limit > 0 && needed > limit) {
            long fds = limit;
            long used = inUse;
            LOG.warning(() -> "--max-connections " + configured + " leaves too few of the process's " + fds
                    + " file descriptors (" + used + " in use, " + ADMIN_MAX_CONNECTIONS + " for the admin port): if they"
                    + " run out, the public port stops accepting connections until a restart; raise 'ulimit -n' or"
                    + " lower --max-connections");
        }
        return configured;
    }

    /**
     * Option values from Helidon's config: {@code application.yaml} (class path or working
     * directory), the environment, system properties; each flag under {@code loraserve.<flag>}.
     */
    public static OptionSource optionSource() {
        return optionSource(Config.create());
    }

    /** Option values from {@code config}, each flag under {@code loraserve.<flag>}. */
    public static OptionSource optionSource(Config config) {
        Config options = config.get("loraserve");
        return flag -> options.get(flag).asString().asOptional();
    }

    /** Helidon's logging set up for a running server (its {@code logging.properties}). */
    public static void configureLogging() {
        LogConfig.configureRuntime();
    }

    /**
     * Loads the model in {@code o} and starts both listeners. Without {@code --model} it serves the
     * demo model under {@code home} and, unless {@code --adapter} says otherwise, every adapter in
     * {@code home/adapters}. Adapters load only from {@code --adapter-root}s (default {@code home/adapters}).
     */
    public static LoraServer start(Options o, Path home) {
        Path adapters = home.resolve("adapters");
        List<Path> roots = o.engine().lora().roots().isEmpty() ? List.of(adapters) : o.engine().lora().roots();
        Map<String, Path> preload = o.adapters().preload();
        if (o.model() == null && preload.isEmpty()) {
            preload = demoAdapters(adapters);
        }
        Path model = o.model() != null ? o.model() : home.resolve("demo/loraserve-demo");
        return new LoraServer(o, model, roots, preload);
    }

    private static Map<String, Path> demoAdapters(Path dir) {
        Map<String, Path> found = new LinkedHashMap<>();
        if (!Files.isDirectory(dir)) {
            return found;
        }
        try (Stream<Path> children = Files.list(dir)) {
            children.filter(d -> Files.isRegularFile(d.resolve("adapter_config.json"))).sorted()
                    .forEach(d -> found.put(d.getFileName().toString(), d));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return found;
    }

    private static void preload(AdapterRegistry registry, String name, Path dir) {
        try {
            registry.load(name, dir, false);
            LOG.info("loaded adapter " + name + " from " + dir);
        } catch (AdapterRegistry.RegistryException | AdapterException e) {
            throw new IllegalStateException("cannot load adapter '" + name + "' from " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * The public API; with {@code apiKey} (non-null) every {@code /v1/} route and the tokenizer's
     * routes need it, while health, metrics and version stay open.
     */
    static void publicRouting(HttpRouting.Builder r, List<Filter> filters, String apiKey, HttpService... services) {
        ErrorHandling.register(r);
        filters.forEach(r::addFilter);
        if (apiKey != null) {
            BearerAuth auth = new BearerAuth(apiKey);
            r.any("/v1/*", auth).any("/tokenize", auth).any("/detokenize", auth);
        }
        r.register(services);
    }

    /**
     * The admin API; with {@code adminKey} (non-null) every route but health needs it, {@code /metrics} too
     * (orchestrators probe health without credentials; Prometheus sends the key, see README).
     */
    static void adminRouting(HttpRouting.Builder r, AdminService admin, HealthService health, MetricsService metrics,
                             String adminKey) {
        ErrorHandling.register(r);
        if (adminKey != null) {
            BearerAuth auth = new BearerAuth(adminKey);
            r.any("/admin/*", auth).any("/v1/*", auth).any("/metrics", auth);
        }
        r.register(admin, health, metrics);
    }

    /** Null while the public port accepts connections, else why not (then the process needs a restart). */
    private String publicListenerDown() {
        ListenerProbe probe = publicListener;
        return probe == null ? null : probe.down();  // null until the listeners have started
    }

    private String notReadyReason() {
        String fault = runtime.engine().deviceFault();
        if (fault != null) {
            return "device failed: " + fault + "; restart the process";
        }
        if (draining) {
            return "shutting down";
        }
        if (!runtime.engine().healthy()) {
            return "engine stuck: no step completed within --step-watchdog while requests wait";
        }
        return publicListenerDown();
    }

    public int port() {
        return web.port();
    }

    public int adminPort() {
        return web.port(ADMIN);
    }

    public ServedModel served() {
        return served;
    }

    public ModelRuntime runtime() {
        return runtime;
    }

    /** Where the LoRA registry reports adapter loads, pins and tiers. */
    public Metrics metrics() {
        return metrics;
    }

    public String readyLine(String host) {
        return "loraserve listening on http://" + host + ":" + port() + " (model " + served.name() + ", device "
                + runtime.deviceName() + ")";
    }

    /**
     * The SIGTERM path: new {@code /v1/} requests get 503 and {@code /health/ready} turns 503 at
     * once; requests already admitted run on for up to {@code grace}; whatever still runs then is
     * cancelled (its client gets a 503 or a stream error) and the server closes.
     */
    public void shutdownGracefully(Duration grace) {
        draining = true;
        gate.close();
        runtime.engine().drain();
        LOG.info(() -> "draining: " + gate.inFlight() + " requests in flight, up to " + grace.toSeconds() + " s");
        try {
            if (!gate.awaitIdle(grace)) {
                LOG.warning(() -> "--shutdown-grace over: cancelling " + gate.inFlight() + " requests");
                runtime.engine().close();
                gate.awaitIdle(CANCEL_GRACE);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        close();
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        draining = true;
        web.stop();
        publicLimits.stop();
        adminLimits.stop();
        connectionTimer.shutdownNow();
        runtime.close();
        saved.ifPresent(SavedCatalogue::close);
        tokenizer.close();
        metrics.close();
    }
}
