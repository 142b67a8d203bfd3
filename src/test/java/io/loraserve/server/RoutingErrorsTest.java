package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import java.net.http.HttpRequest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Unknown routes are a 404 and wrong methods a 405 with Allow, both in the OpenAI error shape. */
class RoutingErrorsTest {
    private static TestServer server;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @ParameterizedTest
    @CsvSource({"public,GET,/v1/completions,405,POST", "public,DELETE,/v1/models,405,GET",
        "public,PUT,/v1/chat/completions,405,POST", "public,POST,/health/ready,405,GET",
        "admin,PUT,/admin/adapters,405,'GET, POST'", "admin,GET,/admin/adapters/x/pin,405,POST",
        "public,GET,/v2/nothing,404,", "public,GET,/admin/adapters,404,", "admin,POST,/v1/completions,404,"})
    void routeErrorsAreJson(String port, String method, String path, int status, String allow) {
        int p = port.equals("admin") ? server.server.adminPort() : server.server.port();
        TestServer.Reply r = TestServer.send(HttpRequest.newBuilder(TestServer.uri(p, path))
                .method(method, HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(status, r.status(), r.body());
        assertEquals("invalid_request_error", r.error().getString("type"));
        assertTrue(r.error().getString("message").contains(path), r.body());
        if (allow != null) {
            assertEquals(allow, r.raw().headers().firstValue("Allow").orElse(""));
            assertEquals("method_not_allowed", r.error().getString("code"));
        } else {
            assertEquals("not_found", r.error().getString("code"));
        }
    }
}
