package io.loraserve.server;

import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.Handler;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * A handler that lets a request through only with {@code Authorization: Bearer KEY}, compared in
 * constant time; otherwise a 401 in the OpenAI error shape.
 */
final class BearerAuth implements Handler {
    private final byte[] expected;

    BearerAuth(String key) {
        this.expected = ("Bearer " + key).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public void handle(ServerRequest req, ServerResponse res) {
        byte[] given = req.headers().first(HeaderNames.AUTHORIZATION).orElse("").getBytes(StandardCharsets.UTF_8);
        if (!MessageDigest.isEqual(expected, given)) {
            throw new ApiException(401, "authentication_error", null, "invalid_api_key",
                    "missing or wrong API key: send 'Authorization: Bearer <key>'");
        }
        res.next();
    }
}
