package io.loraserve.metrics;

import static io.loraserve.metrics.MetricNames.ADAPTER;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The meters of one {@code adapter} label value: created together when the label first appears,
 * removed together when it goes. Every status counter exists from the start, so {@code rate()}
 * sees a zero before the first error rather than a missing series.
 *
 * <p>The gauges read the label's live state through {@code state}, which sums over every adapter
 * that has this label (one adapter, or all adapters past the cap for {@code other}). The base
 * model's label has no catalogue gauges (loaded, pinned, tier, size, load time): it is not an
 * adapter.
 */
final class AdapterSeries {
    /** What the gauges of one label read, at scrape time. */
    interface State {
        double running(String label);

        double waiting(String label);

        double loaded(String label);

        double pinned(String label);

        double inTier(String label, String tier);

        double bytes(String label);

        double lastLoadSeconds(String label);
    }

    final String label;
    private final Map<String, Counter> requests = new HashMap<>();
    final Counter promptTokens;
    final Counter generationTokens;
    final Timer timeToFirstToken;
    final Timer timePerOutputToken;
    final Timer e2eLatency;
    private final List<Meter> meters = new ArrayList<>();

    AdapterSeries(MeterRegistry registry, String label, State state) {
        this.label = label;
        for (String status : MetricNames.STATUSES) {
            requests.put(status, add(Counter.builder(MetricNames.REQUESTS.name())
                    .description(MetricNames.REQUESTS.help())
                    .tag(ADAPTER, label).tag(MetricNames.STATUS, status).register(registry)));
        }
        promptTokens = add(counter(registry, MetricNames.PROMPT_TOKENS));
        generationTokens = add(counter(registry, MetricNames.GENERATION_TOKENS));
        timeToFirstToken = add(timer(registry, MetricNames.TIME_TO_FIRST_TOKEN, MetricNames.TTFT_BUCKETS));
        timePerOutputToken = add(timer(registry, MetricNames.TIME_PER_OUTPUT_TOKEN, MetricNames.TPOT_BUCKETS));
        e2eLatency = add(timer(registry, MetricNames.E2E_LATENCY, MetricNames.E2E_BUCKETS));
        gauge(registry, MetricNames.REQUESTS_RUNNING, null, s -> s.running(label), state);
        gauge(registry, MetricNames.REQUESTS_WAITING, null, s -> s.waiting(label), state);
        if (label.equals(MetricNames.BASE)) {
            return;
        }
        gauge(registry, MetricNames.ADAPTER_LOADED, null, s -> s.loaded(label), state);
        gauge(registry, MetricNames.ADAPTER_PINNED, null, s -> s.pinned(label), state);
        gauge(registry, MetricNames.ADAPTER_BYTES, "bytes", s -> s.bytes(label), state);
        gauge(registry, MetricNames.ADAPTER_LAST_LOAD, "seconds", s -> s.lastLoadSeconds(label), state);
        for (String tier : MetricNames.TIERS) {
            add(Gauge.builder(MetricNames.ADAPTER_TIER.name(), state, s -> s.inTier(label, tier))
                    .description(MetricNames.ADAPTER_TIER.help())
                    .tag(ADAPTER, label).tag(MetricNames.TIER, tier).register(registry));
        }
    }

    Counter requests(String status) {
        return requests.get(status);
    }

    void removeFrom(MeterRegistry registry) {
        meters.forEach(registry::remove);
    }

    private <M extends Meter> M add(M meter) {
        meters.add(meter);
        return meter;
    }

    private Counter counter(MeterRegistry registry, MetricNames.Def def) {
        return Counter.builder(def.name()).description(def.help()).tag(ADAPTER, label).register(registry);
    }

    private Timer timer(MeterRegistry registry, MetricNames.Def def, List<Duration> buckets) {
        return Timer.builder(def.name()).description(def.help()).tag(ADAPTER, label)
                .serviceLevelObjectives(buckets.toArray(Duration[]::new)).register(registry);
    }

    private void gauge(MeterRegistry registry, MetricNames.Def def, String unit, ToDoubleFunction<State> f,
                       State state) {
        add(Gauge.builder(def.name(), state, f).description(def.help()).baseUnit(unit).tag(ADAPTER, label)
                .register(registry));
    }
}
