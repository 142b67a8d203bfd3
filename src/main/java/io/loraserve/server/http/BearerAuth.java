package io.loraserve.server.http;

import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.Handler;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Map;

/**
 * A handler that lets a request through only with {@code Authorization: Bearer KEY}, compared in
 * constant time; otherwise a 401 in the OpenAI error shape with {@code WWW-Authenticate: Bearer}.
 * Guards the admin API ({@code --admin-key}) and the public {@code /v1/} routes ({@code --api-key}).
 */
public final class BearerAuth implements Handler {
    private final byte[] expected;

    public BearerAuth(String key) {
        this.expected = key.getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public void handle(ServerRequest req, ServerResponse res) {
        String header = req.headers().first(HeaderNames.AUTHORIZATION).orElse("");
        // The scheme name is case-insensitive (RFC 7235); the key itself is compared in constant time.
        boolean bearer = header.regionMatches(true, 0, "Bearer ", 0, 7);
        byte[] given = (bearer ? header.substring(7) : "").getBytes(StandardCharsets.UTF_8);
        if (!bearer | !MessageDigest.isEqual(expected, given)) {
            throw new ApiException(401, "authentication_error", null, "invalid_api_key",
                    "missing or wrong API key: send 'Authorization: Bearer <key>'", Map.of("WWW-Authenticate", "Bearer"));
        }
        res.next();
    }
}
