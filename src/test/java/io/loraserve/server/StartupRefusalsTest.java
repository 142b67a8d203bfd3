package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.SafeTensorsIo;
import io.loraserve.config.OptionSource;
import io.loraserve.config.Options;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A model directory that cannot be served stops {@link LoraServer#start} with a message that names
 * the file at fault and what is wrong with it. Each case is a copy of the tiny fixture with one
 * thing broken.
 */
class StartupRefusalsTest {
    @TempDir
    Path tmp;

    private Path copyOfTinyModel() throws IOException {
        return copyOf(Fixtures.tinyModel());
    }

    private Path copyOf(Path model) throws IOException {
        Path dir = Files.createDirectory(tmp.resolve("model"));
        try (var files = Files.list(model)) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        return dir;
    }

    private static void editConfig(Path dir, String from, String to) throws IOException {
        Path config = dir.resolve("config.json");
        String text = Files.readString(config);
        assertTrue(text.contains(from), "fixture config has " + from);
        Files.writeString(config, text.replace(from, to));
    }

    /** Starts a server on {@code dir}; it must fail with a message holding every one of {@code parts}. */
    private static RuntimeException assertRefused(Path dir, String... parts) {
        Options o = Options.parse(new String[] {"--model", dir.toString(), "--port", "0", "--admin-port", "0"},
                OptionSource.NONE);
        RuntimeException e = assertThrows(RuntimeException.class, () -> LoraServer.start(o, dir).close());
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should mention '" + part + "'");
        }
        return e;
    }

    /** Int8 weights asked for on libtorch, which cannot read them: refused before the weights are loaded. */
    @Test
    void int8OnLibtorchIsRefused() {
        Options o = Options.parse(new String[] {"--model", Fixtures.tinyModel().toString(), "--port", "0",
            "--admin-port", "0", "--quantization", "int8", "--kernels", "torch"}, OptionSource.NONE);
        RuntimeException e = assertThrows(RuntimeException.class, () -> LoraServer.start(o, Fixtures.tinyModel()).close());
        assertEquals("--quantization int8 runs on the java kernels only (a CPU with the Vector API)", e.getMessage());
    }

    /** Java kernels asked for a dtype they do not run: refused before the weights are loaded. */
    @Test
    void javaKernelsAtFloat16AreRefused() {
        assertTinyModelRefused("--kernels java: the java kernels run float32 or bfloat16 on the CPU only",
                "--dtype", "float16", "--kernels", "java");
    }

    /** The GPU policy runs the libtorch forward: asked with the Java kernels, start-up refuses before the weights load. */
    @Test
    void gpuPolicyWithJavaKernelsIsRefused() {
        assertTinyModelRefused("--gpu-policy on runs the libtorch forward: not with --kernels java",
                "--gpu-policy", "on", "--kernels", "java");
    }

    /** Starts a server on the tiny model with {@code flags}; it must fail with exactly {@code message}. */
    private static void assertTinyModelRefused(String message, String... flags) {
        List<String> args = new ArrayList<>(List.of("--model", Fixtures.tinyModel().toString(), "--port", "0",
                "--admin-port", "0"));
        args.addAll(List.of(flags));
        Options o = Options.parse(args.toArray(String[]::new), OptionSource.NONE);
        RuntimeException e = assertThrows(RuntimeException.class, () -> LoraServer.start(o, Fixtures.tinyModel()).close());
        assertEquals(message, e.getMessage());
    }

    /** A port another process holds: start-up fails naming it (it used to announce "listening on …:-1"). */
    @Test
    void aPortInUseIsRefusedByName() throws IOException {
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            Options o = Options.parse(new String[] {"--model", Fixtures.tinyModel().toString(), "--host", "127.0.0.1",
                "--port", String.valueOf(taken.getLocalPort()), "--admin-port", "0"}, OptionSource.NONE);
            RuntimeException e = assertThrows(RuntimeException.class,
                    () -> LoraServer.start(o, Fixtures.tinyModel()).close());
            assertEquals("could not listen on 127.0.0.1:" + taken.getLocalPort()
                    + " (--port): the address is in use or not available", e.getMessage());
        }
    }

    @Test
    void missingModelDirectoryIsNamed() {
        Path missing = tmp.resolve("no-such-model");
        assertRefused(missing, missing.toString(), "does not exist");
    }

    @Test
    void unsupportedArchitectureIsRefused() throws IOException {
        Path dir = copyOfTinyModel();
        editConfig(dir, "\"LlamaForCausalLM\"", "\"GPT2LMHeadModel\"");
        assertRefused(dir, dir.resolve("config.json").toString(), "GPT2LMHeadModel", "not supported");
    }

    /** Each rope type transformers has and loraserve does not, in the key it is written under, is refused by name. */
    @ParameterizedTest
    @CsvSource({"type, yarn", "rope_type, yarn", "rope_type, dynamic", "type, dynamic", "rope_type, longrope",
        "type, su"})
    void unimplementedRopeScalingIsRefusedByName(String key, String type) throws IOException {
        Path dir = copyOfTinyModel();
        editConfig(dir, "\"rope_scaling\": null", "\"rope_scaling\": {\"" + key + "\": \"" + type + "\", \"factor\": 4.0}");
        assertRefused(dir, dir.resolve("config.json").toString(),
                "rope_scaling type " + type + " is not implemented (implemented: default, linear, llama3)");
    }

    /** Phi-3.5 and Phi-3 128k checkpoints: longrope, with its short and long factor lists. */
    @Test
    void phi3LongropeIsRefused() throws IOException {
        Path dir = copyOf(Fixtures.familyModel("phi3"));
        editConfig(dir, "\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"longrope\","
                + " \"short_factor\": [1.0, 1.0], \"long_factor\": [1.0, 1.0]}");
        assertRefused(dir, "rope_scaling type longrope is not implemented");
    }

    /** Phi-4-mini (Phi3ForCausalLM) rotates only part of each head. */
    @Test
    void partialRotaryFactorIsRefused() throws IOException {
        Path dir = copyOf(Fixtures.familyModel("phi3"));
        editConfig(dir, "\"rope_scaling\": null", "\"rope_scaling\": null, \"partial_rotary_factor\": 0.75");
        assertRefused(dir, dir.resolve("config.json").toString(), "partial_rotary_factor 0.75 is not implemented");
    }

    @Test
    void qwenSlidingWindowIsRefused() throws IOException {
        Path dir = copyOf(Fixtures.familyModel("qwen3"));
        editConfig(dir, "\"use_sliding_window\": false", "\"use_sliding_window\": true");
        assertRefused(dir, dir.resolve("config.json").toString(), "use_sliding_window", "is not implemented");
    }

    @Test
    void gemmaIsRefusedNamingWhatItNeeds() throws IOException {
        Path dir = copyOfTinyModel();
        editConfig(dir, "\"LlamaForCausalLM\"", "\"Gemma2ForCausalLM\"");
        assertRefused(dir, dir.resolve("config.json").toString(), "architecture Gemma2ForCausalLM is not supported",
                "GeGLU", "soft-capping", "not implemented");
    }

    @Test
    void nonSiluActivationIsRefused() throws IOException {
        Path dir = copyOfTinyModel();
        editConfig(dir, "\"silu\"", "\"gelu_pytorch_tanh\"");
        assertRefused(dir, dir.resolve("config.json").toString(), "gelu_pytorch_tanh", "not supported");
    }

    @Test
    void truncatedSafetensorsIsRefused() throws IOException {
        Path dir = copyOfTinyModel();
        Path weights = dir.resolve("model.safetensors");
        try (FileChannel ch = FileChannel.open(weights, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() * 2 / 3);
        }
        assertRefused(dir, weights.toString(), "truncated");
    }

    @Test
    void lyingHeaderLengthIsRefusedWithoutAllocatingIt() throws IOException {
        Path dir = copyOfTinyModel();
        Path weights = dir.resolve("model.safetensors");
        for (long lie : List.of(1L << 40, Long.MAX_VALUE, -8L, Files.size(weights))) {
            try (FileChannel ch = FileChannel.open(weights, StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, lie), 0);
            }
            // A refusal that tried to allocate a terabyte would throw OutOfMemoryError or stall instead.
            RuntimeException e = assertTimeoutPreemptively(Duration.ofSeconds(30),
                    () -> assertRefused(dir, weights.toString(), "corrupt header", "length"));
            if (lie != Files.size(weights)) {
                // The path is left out: a temporary directory's random name can hold "-8" too.
                String told = e.getMessage().replace(weights.toString(), "");
                assertFalse(told.contains(Long.toString(lie)), "the file's first 8 bytes are not echoed: "
                        + e.getMessage());
            }
        }
    }

    /** The reference safetensors implementation's layout rule holds for the model too (see AdminRefusalsTest). */
    @ParameterizedTest
    @CsvSource({"alias, overlaps", "gap, unused", "start, unused", "tail, unused"})
    void tensorsThatDoNotTileTheDataSectionAreRefused(String how, String says) throws IOException {
        Path dir = copyOfTinyModel();
        Path weights = dir.resolve("model.safetensors");
        SafeTensorsIo.writeRaw(weights, SafeTensorsIo.readRaw(weights).brokenLayout(how, "lm_head.weight",
                "model.embed_tokens.weight"));
        assertRefused(dir, weights.toString(), "data section", says);
    }

    @Test
    void pickleOnlyDirectoryIsRefusedNamingSafetensors() throws IOException {
        Path dir = copyOfTinyModel();
        Files.delete(dir.resolve("model.safetensors"));
        Files.write(dir.resolve("pytorch_model.bin"), new byte[] {(byte) 0x80, 0x02, '}', 'q', 0, '.'});
        assertRefused(dir, "pytorch_model.bin", "model.safetensors", "never loaded");
    }
}
