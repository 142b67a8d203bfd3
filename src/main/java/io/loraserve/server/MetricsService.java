package io.loraserve.server;

import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.loraserve.metrics.Metrics;
import io.loraserve.server.http.ErrorHandling;

/**
 * {@code GET /metrics}: every metric in Prometheus text format, or OpenMetrics when the
 * {@code Accept} header asks for {@code application/openmetrics-text} (as Prometheus does).
 * Served on both the public and the admin port.
 */
final class MetricsService implements HttpService {
    private final Metrics metrics;

    MetricsService(Metrics metrics) {
        this.metrics = metrics;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.get("/metrics", this::scrape)
                .any("/metrics", ErrorHandling.methodNotAllowed("GET"));
    }

    private void scrape(ServerRequest req, ServerResponse res) {
        Metrics.Scrape s = metrics.scrape(req.headers().first(HeaderNames.ACCEPT).orElse(null));
        res.header(HeaderNames.CONTENT_TYPE, s.contentType());
        res.send(s.body());
    }
}
