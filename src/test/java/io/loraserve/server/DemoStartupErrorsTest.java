package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A user who deletes or damages a demo file gets a start-up error naming that file. */
class DemoStartupErrorsTest {
    @TempDir
    Path home;

    private void copyProject() throws IOException {
        Path project = Path.of("").toAbsolutePath();
        for (String dir : new String[] {"demo", "adapters"}) {
            try (Stream<Path> files = Files.walk(project.resolve(dir))) {
                for (Path f : files.toList()) {
                    Path to = home.resolve(project.relativize(f).toString());
                    if (Files.isDirectory(f)) {
                        Files.createDirectories(to);
                    } else {
                        Files.copy(f, to);
                    }
                }
            }
        }
    }

    private String startupError() {
        RuntimeException e = assertThrows(RuntimeException.class, () -> TestServer.noArguments(home).close());
        return e.getMessage();
    }

    private static void truncate(Path file, long length) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(length);
        }
    }

    @Test
    void deletedModelWeightsNameTheMissingFile() throws IOException {
        copyProject();
        Files.delete(home.resolve("demo/loraserve-demo/model.safetensors"));
        String message = startupError();
        assertTrue(message.contains("model.safetensors"), message);
    }

    @Test
    void truncatedModelWeightsNameTheFile() throws IOException {
        copyProject();
        Path weights = home.resolve("demo/loraserve-demo/model.safetensors");
        truncate(weights, Files.size(weights) / 2);
        String message = startupError();
        assertTrue(message.contains(weights.toString()) && message.contains("truncated"), message);
    }

    @Test
    void deletedTokenizerNamesTheFile() throws IOException {
        copyProject();
        Files.delete(home.resolve("demo/loraserve-demo/tokenizer.json"));
        String message = startupError();
        assertTrue(message.contains("tokenizer.json"), message);
    }

    @Test
    void corruptConfigNamesTheFile() throws IOException {
        copyProject();
        Files.writeString(home.resolve("demo/loraserve-demo/config.json"), "{\"hidden_size\": ");
        String message = startupError();
        assertTrue(message.contains("config.json"), message);
    }

    @Test
    void damagedDemoAdapterNamesTheAdapterAndFile() throws IOException {
        copyProject();
        Path weights = home.resolve("adapters/verse/adapter_model.safetensors");
        truncate(weights, 100);
        String message = startupError();
        assertTrue(message.contains("verse") && message.contains("adapter_model.safetensors"), message);
    }
}
