package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.PeftDir;
import io.loraserve.SafeTensorsIo;
import io.loraserve.model.ModelConfig;
import io.loraserve.model.Proj;
import jakarta.json.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every adapter the admin API must refuse, over real HTTP with real files written under the server's only
 * {@code --adapter-root}: each answer's status and error code, a message naming the adapter, the module (or field,
 * or path) and the reason, and {@code GET /admin/adapters} byte-for-byte as it was (one adapter, {@code steady},
 * stays loaded throughout). A second root, {@code cache}, holds files that adapters in the first may link to, as a
 * HuggingFace cache's snapshots link to its blobs.
 */
class AdminRefusalsTest {
    private static final String STEADY = "steady";

    @TempDir
    static Path root;
    @TempDir
    static Path cache;
    @TempDir
    static Path outside;
    private static TestServer server;
    private static ModelConfig tiny;
    private String before;

    @BeforeAll
    static void start() {
        tiny = ModelConfig.load(Fixtures.tinyModel());
        server = new TestServer(Fixtures.tinyModel(), "--adapter-root", root.toString(), "--adapter-root",
                cache.toString());
        server.loadAdapter(STEADY, copyFixture("attn-r4", root.resolve("steady")));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @BeforeEach
    void listing() {
        before = server.adminGet("/admin/adapters").body();
    }

    /** attn-r4's shape (r 4, alpha 8, q_proj and v_proj in both layers) with random weights. */
    private static PeftDir plain(long seed) {
        return new PeftDir(tiny, seed).loraEverywhere(4, Proj.Q, Proj.V);
    }

    private TestServer.Reply load(String name, PeftDir files) {
        return server.postAdapter(name, files.writeTo(root.resolve(name)));
    }

    /** The refusal's status, code and message, and an unchanged registry. */
    private void assertRefused(TestServer.Reply reply, int status, String code, String... mentions) {
        assertEquals(status, reply.status(), reply.body());
        JsonObject error = reply.error();
        assertEquals(code, error.getString("code"), reply.body());
        String message = error.getString("message");
        for (String mention : mentions) {
            assertTrue(message.contains(mention), "'" + mention + "' not in: " + message);
        }
        assertEquals(before, server.adminGet("/admin/adapters").body(), "the registry changed");
    }

    @Test
    void doraIsRefused() {
        assertRefused(load("dora", plain(1).config("{'use_dora': true}")), 400, "adapter_unsupported_feature",
                "'dora'", "use_dora", "only plain LoRA");
    }

    @ParameterizedTest
    @ValueSource(strings = {"{'bias': 'lora_only'}", "{'bias': 'all'}", "{'lora_bias': true}"})
    void loraBiasIsRefused(String config) {
        assertRefused(load("biased", plain(2).config(config)), 400, "adapter_unsupported_feature", "'biased'",
                "bias");
    }

    @Test
    void modulesToSaveIsRefused() {
        assertRefused(load("saver", plain(3).config("{'modules_to_save': ['lm_head']}")), 400,
                "adapter_unsupported_feature", "'saver'", "modules_to_save");
    }

    @ParameterizedTest
    @ValueSource(strings = {"embed_tokens", "lm_head"})
    void embeddingOrHeadTargetIsRefused(String module) {
        assertRefused(load("head", plain(4).config("{'target_modules': ['q_proj', 'v_proj', '" + module + "']}")),
                400, "adapter_unsupported_target", "'head'", module, "not one of the decoder linears");
    }

    @ParameterizedTest
    @ValueSource(strings = {"base_model.model.lm_head.lora_A.weight",
                            "base_model.model.model.embed_tokens.lora_embedding_A"})
    void embeddingOrHeadTensorInTheFileIsRefused(String key) {
        PeftDir files = plain(5).tensor(key, new long[] {4, 64}, new float[4 * 64]);
        assertRefused(load("stray", files), 400, "adapter_unexpected_weight", "'stray'", key,
                "embeddings/lm_head");
    }

    @Test
    void shapeForAnotherBaseIsRefused() {
        String a = PeftDir.key(0, Proj.Q, "A");
        PeftDir files = plain(6).tensor(a, new long[] {4, 48}, new float[4 * 48]);
        assertRefused(load("other-base", files), 400, "adapter_shape_mismatch", "'other-base'",
                "model.layers.0.self_attn.q_proj", "[4, 48]", "another base model");
    }

    @Test
    void rankInTheFileOtherThanTheConfigsIsRefused() {
        PeftDir files = new PeftDir(tiny, 7).loraEverywhere(4, Proj.Q).loraEverywhere(8, Proj.V);
        assertRefused(load("rank8", files), 400, "adapter_rank_mismatch", "'rank8'",
                "model.layers.0.self_attn.v_proj", "rank 8 in the file", "config gives 4");
    }

    @Test
    void rankInTheFileOtherThanTheRankPatternsIsRefused() {
        PeftDir files = plain(8).config("{'rank_pattern': {'layers.1.self_attn.v_proj': 2}}");
        assertRefused(load("pattern", files), 400, "adapter_rank_mismatch", "'pattern'",
                "model.layers.1.self_attn.v_proj", "rank 4 in the file", "config gives 2");
    }

    @Test
    void targetNamingALayerTheBaseDoesNotHaveIsRefused() {
        PeftDir files = new PeftDir(tiny, 9).config("{'target_modules': ['model.layers.7.self_attn.q_proj']}");
        assertRefused(load("layer7", files), 400, "adapter_unmatched_target", "'layer7'",
                "model.layers.7.self_attn.q_proj", "matches no module", "2 layers");
    }

    @Test
    void layersToTransformBeyondTheBaseIsRefused() {
        PeftDir files = new PeftDir(tiny, 10).config("{'layers_to_transform': [7]}");
        assertRefused(load("layers7", files), 400, "adapter_layer_out_of_range", "'layers7'", "layer 7",
                "layers 0..1");
    }

    @Test
    void tensorForALayerTheBaseDoesNotHaveIsRefused() {
        PeftDir files = plain(11).tensor("base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight",
                new long[] {4, 64}, new float[4 * 64]);
        assertRefused(load("extra7", files), 400, "adapter_unexpected_weight", "'extra7'",
                "model.layers.7.self_attn.q_proj");
    }

    @ParameterizedTest
    @ValueSource(strings = {"A", "B"})
    void missingAOrBIsRefused(String which) {
        PeftDir files = plain(12).without(PeftDir.key(1, Proj.V, which));
        assertRefused(load("half", files), 400, "adapter_missing_weight", "'half'",
                "model.layers.1.self_attn.v_proj", "lora_" + which);
    }

    @ParameterizedTest
    @ValueSource(floats = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY})
    void nonFiniteValueIsRefused(float value) {
        PeftDir files = plain(13);
        String b = PeftDir.key(1, Proj.V, "B");
        float[] values = files.values(b);
        values[values.length - 1] = value;
        files.tensor(b, new long[] {tiny.outFeatures(Proj.V), 4}, values);
        assertRefused(load("nonfinite", files), 400, "adapter_non_finite", "'nonfinite'", b, "NaN or infinity");
    }

    @Test
    void pickleOnlyIsRefusedAskingForSafetensors() throws IOException {
        Path dir = plain(14).writeTo(root.resolve("pickled"));
        Files.move(dir.resolve("adapter_model.safetensors"), dir.resolve("adapter_model.bin"));
        assertRefused(server.postAdapter("pickled", dir), 400, "adapter_pickle_only", "'pickled'",
                "adapter_model.bin", "never loaded", "adapter_model.safetensors");
    }

    @Test
    void truncatedSafetensorsIsRefused() throws IOException {
        Path file = plain(15).writeTo(root.resolve("truncated")).resolve("adapter_model.safetensors");
        byte[] whole = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(whole, whole.length - 100));
        assertRefused(server.postAdapter("truncated", file.getParent()), 400, "adapter_weights_unreadable",
                "'truncated'", "adapter_model.safetensors", "outside the");
    }

    @ParameterizedTest
    @ValueSource(longs = {1L << 60, -1L, 1L << 31, 7})
    void lyingHeaderLengthIsRefusedWithoutAllocatingIt(long headerLength) {
        long nativeBefore = Pointer.physicalBytes();
        Path file = plain(16).writeTo(root.resolve("lying")).resolve("adapter_model.safetensors");
        overwriteHeaderLength(file, headerLength);
        assertRefused(server.postAdapter("lying", file.getParent()), 400, "adapter_weights_unreadable", "'lying'",
                "adapter_model.safetensors", "corrupt header");
        assertTrue(Pointer.physicalBytes() - nativeBefore < 256L << 20, "a lying header must not be allocated");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "abc", "{\"x\": 1", "[1, 2]",
                            "{\"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight\": 5}",
                            "{\"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight\": {\"dtype\": \"F32\","
                                    + " \"shape\": [1099511627776, 1099511627776], \"data_offsets\": [0, 16]}}"})
    void corruptHeaderIsRefused(String header) throws IOException {
        assertHeaderRefused(header);
    }

    /** Deeper than the JSON parser's own limit, whose exception is no JSON error: still a 400, not a 500. */
    @Test
    void deeplyNestedHeaderIsRefused() throws IOException {
        assertHeaderRefused("{\"x\": " + "[".repeat(2000) + "]".repeat(2000) + "}");
    }

    /** Numbers the JSON parser will not turn into values (it throws no JSON error for them): a 400, not a 500. */
    @ParameterizedTest
    @ValueSource(strings = {"digits", "exponent"})
    void headerNumbersTooLongToParseAreRefused(String kind) throws IOException {
        String number = kind.equals("digits") ? "1".repeat(2000) : "1e999999999";
        assertHeaderRefused("{\"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight\": {\"dtype\": \"F32\","
                + " \"shape\": [4, 64], \"data_offsets\": [0, " + number + "]}}");
    }

    private void assertHeaderRefused(String header) throws IOException {
        Path dir = plain(17).writeTo(root.resolve("corrupt"));
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer file = ByteBuffer.allocate(8 + json.length + 16).order(ByteOrder.LITTLE_ENDIAN);
        file.putLong(json.length).put(json);
        Files.write(dir.resolve("adapter_model.safetensors"), file.array());
        assertRefused(server.postAdapter("corrupt", dir), 400, "adapter_weights_unreadable", "'corrupt'",
                "adapter_model.safetensors");
    }

    @Test
    void rankAboveMaxLoraRankIsRefused() {
        PeftDir files = new PeftDir(tiny, 18).config("{'r': 32, 'lora_alpha': 32}").loraEverywhere(32, Proj.Q,
                Proj.V);
        assertRefused(load("r32", files), 400, "adapter_rank_too_large", "'r32'", "model.layers.0.self_attn.q_proj",
                "rank 32", "--max-lora-rank 16");
    }

    @Test
    void dotDotTraversalOutOfTheRootIsForbidden() {
        Path escape = plain(19).writeTo(outside.resolve("escape"));
        String relative = root.relativize(escape).toString();  // ../<outside>/escape
        String traversal = root + "/" + relative;
        assertTrue(relative.startsWith(".."), relative);
        for (String path : new String[] {traversal, relative}) {
            assertRefused(server.adminPost("/admin/adapters", "{\"name\":\"escape\",\"path\":"
                    + BaseModelGoldenTest.quoted(path) + "}"), 403, "path_not_allowed", path,
                    "outside every --adapter-root");
        }
    }

    @Test
    void symlinkPointingOutOfTheRootIsForbidden() throws IOException {
        Path target = plain(20).writeTo(outside.resolve("linked"));
        Path link = Files.createSymbolicLink(root.resolve("link"), target);
        assertRefused(server.postAdapter("linked", link), 403, "path_not_allowed", link.toString(),
                "outside every --adapter-root");
    }

    /** A file inside an adapter directory that links out of every root: refused before a byte of it is read. */
    @ParameterizedTest
    @ValueSource(strings = {"adapter_config.json", "adapter_model.safetensors"})
    void fileSymlinkedOutOfTheRootsIsForbidden(String file) throws IOException {
        Path dir = plain(23).writeTo(root.resolve("leaky-" + file));
        Path target = plain(23).writeTo(outside.resolve("target-" + file)).resolve(file);
        Files.delete(dir.resolve(file));
        Files.createSymbolicLink(dir.resolve(file), target);
        TestServer.Reply reply = server.postAdapter("leaky", dir);
        assertRefused(reply, 403, "path_not_allowed", "'leaky'", dir.resolve(file).toString(),
                "outside every --adapter-root");
        assertTrue(!reply.body().contains(outside.toString()), "where the link leads is not told: " + reply.body());
    }

    /** As above, through a linked directory on the way; and a link to a file in another root loads. */
    @Test
    void linksAreJudgedByWhereTheyLeadNotByTheirName() throws IOException {
        Path dir = plain(24).writeTo(root.resolve("hub-style"));
        Path blob = cache.resolve("blobs").resolve("3f1c");
        Files.createDirectories(blob.getParent());
        Files.move(dir.resolve("adapter_model.safetensors"), blob);
        Files.createSymbolicLink(dir.resolve("adapter_model.safetensors"), blob);
        TestServer.Reply loaded = server.postAdapter("hub-style", dir);
        assertEquals(201, loaded.status(), loaded.body());
        assertEquals(200, server.adminDelete("/admin/adapters/hub-style").status());

        Path away = Files.createSymbolicLink(root.resolve("away"), plain(25).writeTo(outside.resolve("away")));
        Path dir2 = plain(25).writeTo(root.resolve("via-away"));
        Files.delete(dir2.resolve("adapter_model.safetensors"));
        Files.createSymbolicLink(dir2.resolve("adapter_model.safetensors"),
                dir2.relativize(away.resolve("adapter_model.safetensors")));
        assertRefused(server.postAdapter("via-away", dir2), 403, "path_not_allowed", "'via-away'",
                "outside every --adapter-root");
    }

    /**
     * A refusal never hands back what a file holds: not a weights file's first 8 bytes as a "declared header
     * length", not a config's first character from the JSON parser, whether the file is inside the roots or links out.
     */
    @Test
    void refusalsDoNotEchoFileContent() throws IOException {
        byte[] secret = "TOPSECRET: the launch codes are 0000\n".getBytes(StandardCharsets.US_ASCII);
        String asLength = Long.toString(ByteBuffer.wrap(secret).order(ByteOrder.LITTLE_ENDIAN).getLong());
        Path secretFile = Files.write(outside.resolve("secret.txt"), secret);
        Pattern echoes = Pattern.compile("TOPSECRE|launch|" + asLength + "|\\b84\\b|'T'");

        Path dir = plain(26).writeTo(root.resolve("secretive"));
        Files.write(dir.resolve("adapter_model.safetensors"), secret);
        TestServer.Reply weights = server.postAdapter("secretive", dir);
        assertRefused(weights, 400, "adapter_weights_unreadable", "'secretive'", "adapter_model.safetensors",
                "corrupt header");
        assertTrue(!echoes.matcher(weights.body()).find(), weights.body());

        Files.write(dir.resolve("adapter_config.json"), secret);
        TestServer.Reply config = server.postAdapter("secretive", dir);
        assertRefused(config, 400, "adapter_malformed_json", "'secretive'", "adapter_config.json", "not valid JSON");
        assertTrue(!echoes.matcher(config.body()).find(), config.body());

        for (String file : new String[] {"adapter_config.json", "adapter_model.safetensors"}) {
            Path linked = plain(26).writeTo(root.resolve("linked-secret-" + file));
            Files.delete(linked.resolve(file));
            Files.createSymbolicLink(linked.resolve(file), secretFile);
            TestServer.Reply reply = server.postAdapter("secretive", linked);
            assertRefused(reply, 403, "path_not_allowed", "'secretive'");
            assertTrue(!echoes.matcher(reply.body()).find(), reply.body());
        }
    }

    @Test
    void configOverTheSizeLimitIsRefused() {
        PeftDir files = plain(27).config("{'notes': '" + "x".repeat(5 << 20) + "'}");
        assertRefused(load("bloated", files), 400, "adapter_config_too_large", "'bloated'", "adapter_config.json",
                "larger than", "4194304 bytes");
    }

    /**
     * Numbers the JSON parser will not turn into values (it throws no JSON error for them), in any field: a 400 that
     * names the file, not a 500. (Written as text: the test's own parser would refuse them too.)
     */
    @ParameterizedTest
    @CsvSource({"r, digits, adapter_malformed_json", "r, exponent, adapter_wrong_type",
                "lora_alpha, digits, adapter_malformed_json", "lora_alpha, exponent, adapter_invalid_alpha",
                "notes, digits, adapter_malformed_json"})
    void configNumbersTooLongToParseAreRefused(String field, String kind, String code) throws IOException {
        Path config = plain(31).writeTo(root.resolve("numbers")).resolve("adapter_config.json");
        String number = kind.equals("digits") ? "1".repeat(2000) : "1e999999999";
        String text = Files.readString(config);
        Files.writeString(config, text.substring(0, text.lastIndexOf('}')) + ",\"" + field + "\":" + number + "}");
        assertRefused(server.postAdapter("numbers", config.getParent()), 400, code, "'numbers'", field.equals("notes")
                || kind.equals("digits") ? "adapter_config.json" : field);
    }

    /** Nesting that would overflow a recursive parser's stack is a 400, not a 500 with a stack trace in the log. */
    @Test
    void deeplyNestedConfigIsRefused() throws IOException {
        Path dir = plain(28).writeTo(root.resolve("nested"));
        Files.writeString(dir.resolve("adapter_config.json"), "{\"notes\": " + "[".repeat(200_000)
                + "]".repeat(200_000) + "}");
        assertRefused(server.postAdapter("nested", dir), 400, "adapter_malformed_json", "'nested'",
                "adapter_config.json", "deeper than 64 levels");
    }

    /**
     * A FIFO (or anything but a regular file) where a file belongs is refused without opening it: opening a FIFO for
     * reading blocks until a writer comes, which would hold the one loader thread forever.
     */
    @ParameterizedTest
    @CsvSource({"adapter_config.json, adapter_config_unreadable", "adapter_model.safetensors, adapter_weights_unreadable"})
    void fifoInsteadOfAFileIsRefusedWithoutBlockingTheLoader(String file, String code) throws Exception {
        Path dir = plain(29).writeTo(root.resolve("piped-" + file));
        Path fifo = dir.resolve(file);
        Files.delete(fifo);
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
        assertEquals(0, mkfifo.waitFor(), "mkfifo " + fifo);
        CompletableFuture<TestServer.Reply> reply = CompletableFuture.supplyAsync(() -> server.postAdapter("piped", dir));
        try {
            assertRefused(reply.get(30, TimeUnit.SECONDS), 400, code, "'piped'", fifo.toString(),
                    "not a regular file");
        } finally {
            if (!reply.isDone()) {
                Files.newOutputStream(fifo).close();  // the blocked loader is the FIFO's reader: a writer frees it
            }
        }
    }

    /**
     * Tensors must tile the data section in order, as the reference safetensors implementation demands: from byte 0,
     * each where the previous ended, the last at the section's end. Overlaps would serve one tensor's bytes as another.
     */
    @ParameterizedTest
    @CsvSource({"alias, overlaps", "gap, unused", "start, unused", "tail, unused"})
    void tensorsThatDoNotTileTheDataSectionAreRefused(String how, String says) {
        Path file = plain(30).writeTo(root.resolve("layout-" + how)).resolve("adapter_model.safetensors");
        SafeTensorsIo.writeRaw(file, SafeTensorsIo.readRaw(file).brokenLayout(how, PeftDir.key(0, Proj.Q, "A"),
                PeftDir.key(0, Proj.V, "A")));
        assertRefused(server.postAdapter("layout", file.getParent()), 400, "adapter_weights_unreadable", "'layout'",
                "adapter_model.safetensors", "data section", says);
    }

    @Test
    void nonexistentPathIsRefused() {
        Path missing = root.resolve("no-such-adapter");
        assertRefused(server.postAdapter("missing", missing), 400, "invalid_value", missing.toString(),
                "does not exist");
    }

    /** Outside the roots, whether a path exists is none of the client's business: 403 either way. */
    @Test
    void nonexistentPathOutsideTheRootsIsForbiddenNotReportedMissing() {
        String absolute = outside.resolve("no-such-dir").toString();
        String relative = root.relativize(outside.resolve("no-such-dir")).toString();
        for (String path : new String[] {absolute, relative, "/etc/no-such-dir", root + "/../no-such-dir"}) {
            assertRefused(server.adminPost("/admin/adapters", "{\"name\":\"nowhere\",\"path\":"
                    + BaseModelGoldenTest.quoted(path) + "}"), 403, "path_not_allowed", path,
                    "outside every --adapter-root");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"has space", "../up", "a/b", "-dash-first", "tiny-llama", "base", "other",
                            "x12345678901234567890123456789012345678901234567890123456789012345"})
    void badAdapterNameIsRefused(String name) {
        Path dir = root.resolve("steady");
        assertRefused(server.postAdapter(name, dir), 400, "invalid_value", "'" + name + "'", "must be 1-64");
    }

    @Test
    void duplicateNameWithoutReplaceIsAConflict() {
        Path other = copyFixture("all-r8-rslora", root.resolve("other"));
        assertRefused(server.postAdapter(STEADY, other), 409, "adapter_exists", "'steady'", "already loaded",
                "\"replace\": true");
        assertRefused(server.adminPost("/v1/load_lora_adapter", "{\"lora_name\":\"steady\",\"lora_path\":"
                + BaseModelGoldenTest.quoted(other.toString()) + "}"), 400, "adapter_exists", "'steady'",
                "set 'load_inplace' to True");  // vLLM's status and words
    }

    @Test
    void refusedReplaceKeepsTheLoadedVersion() {
        Path dir = plain(22).config("{'use_dora': true}").writeTo(root.resolve("replacement"));
        assertRefused(server.adminPost("/admin/adapters", "{\"name\":\"steady\",\"replace\":true,\"path\":"
                + BaseModelGoldenTest.quoted(dir.toString()) + "}"), 400, "adapter_unsupported_feature", "'steady'",
                "use_dora");
    }

    @Test
    void vllmLoadRefusesABadAdapterLikeTheAdminApi() {
        Path dir = plain(21).config("{'use_dora': true}").writeTo(root.resolve("vllm-dora"));
        assertRefused(server.adminPost("/v1/load_lora_adapter", "{\"lora_name\":\"vllm-dora\",\"lora_path\":"
                + BaseModelGoldenTest.quoted(dir.toString()) + "}"), 400, "adapter_unsupported_feature",
                "'vllm-dora'", "use_dora");
        assertRefused(server.adminPost("/v1/load_lora_adapter", "{\"lora_path\":"
                + BaseModelGoldenTest.quoted(dir.toString()) + "}"), 400, "invalid_value", "lora_name");
    }

    @Test
    void unloadingPinningOrShowingAnUnknownAdapterIsNotFound() {
        assertRefused(server.adminDelete("/admin/adapters/nobody"), 404, "adapter_not_found", "'nobody'");
        assertRefused(server.adminPost("/v1/unload_lora_adapter", "{\"lora_name\":\"nobody\"}"), 404,
                "adapter_not_found", "'nobody'");
        assertRefused(server.adminPost("/admin/adapters/nobody/pin", ""), 404, "adapter_not_found", "'nobody'");
        assertRefused(server.adminPost("/admin/adapters/nobody/unpin", ""), 404, "adapter_not_found", "'nobody'");
        assertRefused(server.adminGet("/admin/adapters/nobody"), 404, "adapter_not_found", "'nobody'");
    }

    static Path copyFixture(String fixture, Path dir) {
        try {
            Files.createDirectories(dir);
            for (String f : new String[] {"adapter_config.json", "adapter_model.safetensors"}) {
                Files.copy(Fixtures.tinyAdapter(fixture).resolve(f), dir.resolve(f));
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void overwriteHeaderLength(Path file, long length) {
        try {
            byte[] bytes = Files.readAllBytes(file);
            ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, length);
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
