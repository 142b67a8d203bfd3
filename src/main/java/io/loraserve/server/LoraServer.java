package io.loraserve.server;

import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.HttpRouting;
import io.loraserve.engine.ModelRuntime;
import io.loraserve.metrics.Metrics;
import io.loraserve.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.List;

/**
 * One running loraserve: the model runtime, the tokenizer and two HTTP listeners (public API on
 * {@code --port}, admin API on {@code --admin-port}). Owns all of them; {@link #close()} stops
 * the listeners, then the engine, then frees native memory and the metrics. Tests start it on port 0.
 */
public final class LoraServer implements AutoCloseable {
    static final String ADMIN = "admin";

    private final ModelRuntime runtime;
    private final Tokenizer tokenizer;
    private final ServedModel served;
    private final Metrics metrics;
    private final WebServer web;
    private volatile boolean draining;

    private LoraServer(Options o, Path modelDir) {
        Tokenizer tok = Tokenizer.load(modelDir);
        ModelRuntime rt;
        try {
            rt = ModelRuntime.load(modelDir, new ModelRuntime.Settings(o.device(), o.dtype(), o.maxModelLen(),
                    o.maxNumSeqs(), o.maxNumBatchedTokens(), o.kvBlockSize(), o.kvCacheBytes(), o.maxQueuedRequests(),
                    o.requestTimeout(), o.stepWatchdog(), o.threads()));
        } catch (RuntimeException e) {
            tok.close();
            throw e;
        }
        this.tokenizer = tok;
        this.runtime = rt;
        String name = o.servedModelName() != null ? o.servedModelName() : modelDir.getFileName().toString();
        this.served = new ServedModel(name, rt.maxModelLen(), rt.config().vocab(), System.currentTimeMillis() / 1000);
        this.metrics = new Metrics(name, o.metricsAdapterLabels(), rt.engine()::stats);
        rt.engine().setListener(metrics);
        MetricsService metricsService = new MetricsService(metrics);
        ModelResolver models = new ModelResolver(served, adapter -> false, List::of);
        HealthService health = new HealthService(this::notReadyReason);
        CompletionsService completions = new CompletionsService(rt.engine(), tokenizer, models, o.maxN());
        this.web = WebServer.builder()
                .host(o.host())
                .port(o.port())
                .maxPayloadSize(o.maxBodyBytes())
                .shutdownHook(false)
                .routing(r -> publicRouting(r, completions, new ModelsService(models), health, metricsService))
                .putSocket(ADMIN, s -> s.host(o.host()).port(o.adminPort()).maxPayloadSize(o.maxBodyBytes())
                        .routing(r -> adminRouting(r, health, metricsService)))
                .build()
                .start();
    }

    /** Loads the model in {@code o} (or {@code defaultModel}) and starts both listeners. */
    public static LoraServer start(Options o, Path defaultModel) {
        return new LoraServer(o, o.model() != null ? o.model() : defaultModel);
    }

    static void publicRouting(HttpRouting.Builder r, CompletionsService completions, ModelsService models,
                              HealthService health, MetricsService metrics) {
        ErrorHandling.register(r);
        r.register(completions, models, health, metrics);
    }

    static void adminRouting(HttpRouting.Builder r, HealthService health, MetricsService metrics) {
        ErrorHandling.register(r);
        r.register(health, metrics);
    }

    private String notReadyReason() {
        if (draining) {
            return "shutting down";
        }
        if (!runtime.engine().healthy()) {
            return "engine stuck: no step completed within --step-watchdog while requests wait";
        }
        return null;
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

    @Override
    public void close() {
        draining = true;
        web.stop();
        runtime.close();
        tokenizer.close();
        metrics.close();
    }
}
