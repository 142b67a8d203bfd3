package io.loraserve.metrics;

import io.micrometer.core.instrument.MeterRegistry;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The per-adapter meters and the bound on their cardinality. Thread-safe.
 *
 * <p>Semantics: an adapter gets its own {@code adapter} label the first time it is seen (in a
 * request or a catalogue event), as long as fewer than {@code cap} adapters hold one; later
 * adapters share the label {@code other}. The base model is always {@code base} and does not count
 * against the cap. A label, once given, stays with its adapter until {@link #removed} drops the
 * adapter's series and frees the place for the next new adapter. An event that still arrives for a
 * removed adapter (a request that was running on it) brings its series back.
 */
final class AdapterMeters implements AdapterSeries.State {
    /** What the catalogue (the LoRA registry) last said about one adapter. */
    private static final class Entry {
        final String label;
        volatile boolean loaded;
        volatile boolean pinned;
        volatile String tier;
        volatile long bytes;
        volatile double lastLoadSeconds;

        Entry(String label) {
            this.label = label;
        }
    }

    private final MeterRegistry registry;
    private final int cap;
    /** Adapter name (never null) → the label it was given. Guarded by {@code this}. */
    private final Map<String, String> labels = new HashMap<>();
    /** Label → its meters. Guarded by {@code this}. */
    private final Map<String, AdapterSeries> series = new HashMap<>();
    private final Map<String, Entry> catalogue = new ConcurrentHashMap<>();
    private int ownLabels;
    /** The engine's last report, already summed per label. */
    private volatile Map<String, Integer> runningByLabel = Map.of();
    private volatile Map<String, Integer> waitingByLabel = Map.of();

    AdapterMeters(MeterRegistry registry, int cap) {
        this.registry = registry;
        this.cap = cap;
        series(null);
    }

    /** The meters of {@code adapter}'s label (null = base model), created on first sight. */
    synchronized AdapterSeries series(String adapter) {
        String label = adapter == null ? MetricNames.BASE : labels.computeIfAbsent(adapter, a -> {
            if (ownLabels < cap) {
                ownLabels++;
                return a;
            }
            return MetricNames.OTHER;
        });
        return series.computeIfAbsent(label, l -> new AdapterSeries(registry, l, this));
    }

    void queues(Map<String, Integer> running, Map<String, Integer> waiting) {
        runningByLabel = byLabel(running);
        waitingByLabel = byLabel(waiting);
    }

    private Map<String, Integer> byLabel(Map<String, Integer> byAdapter) {
        Map<String, Integer> out = new HashMap<>();
        byAdapter.forEach((adapter, n) -> out.merge(series(adapter).label, n, Integer::sum));
        return out;
    }

    void loaded(String adapter, long bytes, double seconds) {
        Entry e = entry(adapter);
        e.bytes = bytes;
        e.lastLoadSeconds = seconds;
        e.loaded = true;
    }

    void pinned(String adapter, boolean pinned) {
        entry(adapter).pinned = pinned;
    }

    void tier(String adapter, String tier) {
        if (!MetricNames.TIERS.contains(tier)) {
            throw new IllegalArgumentException("tier must be one of " + MetricNames.TIERS + ", not '" + tier + "'");
        }
        entry(adapter).tier = tier;
    }

    /** Forgets {@code adapter}; drops its series if it had a label of its own. */
    synchronized void removed(String adapter) {
        catalogue.remove(adapter);
        String label = labels.remove(adapter);
        if (label != null && !label.equals(MetricNames.OTHER)) {
            ownLabels--;
            AdapterSeries s = series.remove(label);
            if (s != null) {
                s.removeFrom(registry);
            }
        }
    }

    private Entry entry(String adapter) {
        Objects.requireNonNull(adapter, "adapter");
        String label = series(adapter).label;
        return catalogue.computeIfAbsent(adapter, a -> new Entry(label));
    }

    @Override
    public double running(String label) {
        return runningByLabel.getOrDefault(label, 0);
    }

    @Override
    public double waiting(String label) {
        return waitingByLabel.getOrDefault(label, 0);
    }

    @Override
    public double loaded(String label) {
        return catalogue.values().stream().filter(e -> e.label.equals(label) && e.loaded).count();
    }

    @Override
    public double pinned(String label) {
        return catalogue.values().stream().filter(e -> e.label.equals(label) && e.pinned).count();
    }

    @Override
    public double inTier(String label, String tier) {
        return catalogue.values().stream().filter(e -> e.label.equals(label) && tier.equals(e.tier)).count();
    }

    @Override
    public double bytes(String label) {
        return catalogue.values().stream().filter(e -> e.label.equals(label)).mapToLong(e -> e.bytes).sum();
    }

    @Override
    public double lastLoadSeconds(String label) {
        return catalogue.values().stream().filter(e -> e.label.equals(label))
                .mapToDouble(e -> e.lastLoadSeconds).max().orElse(0);
    }
}
