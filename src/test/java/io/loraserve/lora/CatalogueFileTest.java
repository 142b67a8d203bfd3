package io.loraserve.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The state file's format: what it writes reads back, and anything else is refused, never half-read. */
class CatalogueFileTest {
    private static final String SHA = "0123456789abcdef".repeat(4);

    @TempDir
    Path dir;

    @Test
    void whatIsWrittenReadsBackInOrderAndNoFileReadsAsEmpty() throws Exception {
        CatalogueFile file = new CatalogueFile(dir);
        assertEquals(List.of(), file.read());
        List<CatalogueFile.Entry> entries = List.of(
                new CatalogueFile.Entry("verse", Path.of("/srv/adaptér/verse"), true, SHA),
                new CatalogueFile.Entry("code", Path.of("/srv/adapters/code"), false, SHA.replace('0', 'f')));
        file.write(entries);
        assertEquals(entries, file.read());
        assertFalse(Files.exists(dir.resolve("state.json.tmp")), "the temporary file was renamed");
        assertTrue(Files.readString(dir.resolve("state.json")).contains("\"version\": 1"));
        file.write(List.of());
        assertEquals(List.of(), file.read());
    }

    @Test
    void anythingButAFileItWroteIsUnreadable() throws Exception {
        String entry = "{\"name\":\"a\",\"path\":\"/srv/a\",\"pinned\":false,\"sha256\":\"" + SHA + "\"}";
        for (String text : List.of(
                "",
                "{\"version\":1,\"adapters\":[" + entry,                                     // torn
                "[]",
                "{\"adapters\":[]}",                                                         // no version
                "{\"version\":2,\"adapters\":[]}",                                           // a newer format
                "{\"version\":1}",
                "{\"version\":1,\"adapters\":[{\"name\":\"a\",\"path\":\"/srv/a\",\"pinned\":false}]}",
                "{\"version\":1,\"adapters\":[" + entry.replace("false", "\"no\"") + "]}",
                "{\"version\":1,\"adapters\":[" + entry.replace("/srv/a", "srv/a") + "]}",    // relative
                "{\"version\":1,\"adapters\":[" + entry.replace(SHA, "abc") + "]}",
                "{\"version\":1,\"adapters\":[" + entry + "," + entry + "]}",               // a name twice
                "{\"version\":1,\"adapters\":[" + entry + "]}\u0000")) {
            Files.writeString(dir.resolve("state.json"), text);
            assertThrows(CatalogueFile.Unreadable.class, () -> new CatalogueFile(dir).read(), text);
        }
        Files.write(dir.resolve("state.json"), new byte[] {'{', (byte) 0xff, '}'});
        assertThrows(CatalogueFile.Unreadable.class, () -> new CatalogueFile(dir).read(), "not UTF-8");
    }

    @Test
    void setAsideKeepsTheBadFileUnderANewName() throws IOException {
        byte[] bad = {'{', 'n', 'o', 'p', 'e'};
        Files.write(dir.resolve("state.json"), bad);
        Path first = new CatalogueFile(dir).setAside();
        Files.write(dir.resolve("state.json"), bad);
        Path second = new CatalogueFile(dir).setAside();
        assertFalse(Files.exists(dir.resolve("state.json")));
        for (Path aside : List.of(first, second)) {
            assertTrue(aside.getFileName().toString().startsWith("state.json.corrupt-"), aside.toString());
            assertArrayEquals(bad, Files.readAllBytes(aside));
        }
        assertFalse(first.equals(second), "a second bad file does not replace the first");
    }
}
