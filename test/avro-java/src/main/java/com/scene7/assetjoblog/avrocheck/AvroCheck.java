package com.scene7.assetjoblog.avrocheck;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.avro.LogicalType;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.MissingSchemaException;
import org.apache.avro.message.SchemaStore;

/**
 * Checks the assetjoblog Avro contract with Apache Avro's Java library: the
 * schema's Parsing Canonical Form and CRC-64-AVRO fingerprint against
 * canonical.json and fingerprint.txt, and every golden vector (single-object
 * encoding through BinaryMessageDecoder and a SchemaStore; Confluent framing
 * by its header and a GenericDatumReader) field by field against its input
 * JSON.
 *
 * <p>Usage: AvroCheck SCHEMA.avsc TESTDATA_DIR [CONFLUENT_SCHEMA_ID]. Exits 1 on
 * any mismatch.
 */
public final class AvroCheck {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final List<String> failures = new ArrayList<>();

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: AvroCheck SCHEMA.avsc TESTDATA_DIR [CONFLUENT_SCHEMA_ID]");
      System.exit(2);
    }
    int schemaId = args.length > 2 ? Integer.parseInt(args[2]) : 7;
    AvroCheck c = new AvroCheck();
    c.run(Path.of(args[0]), Path.of(args[1]), schemaId);
    if (!c.failures.isEmpty()) {
      System.err.println("java: " + c.failures.size() + " mismatch(es):");
      c.failures.forEach(f -> System.err.println("  " + f));
      System.exit(1);
    }
    System.out.println("java: all checks passed");
  }

  private void fail(String msg) {
    failures.add(msg);
  }

  private void run(Path schemaPath, Path testdata, int schemaId) throws IOException {
    Schema schema = new Schema.Parser().parse(schemaPath.toFile());
    String pcf = SchemaNormalization.toParsingForm(schema);
    long fp = SchemaNormalization.parsingFingerprint64(schema);
    String fpHex = String.format("%016x", fp);
    System.out.println("java: avro " + Schema.class.getPackage().getImplementationVersion());
    System.out.println("java: parsingFingerprint64 = " + fpHex + " (long " + fp + ")");
    System.out.println("java: canonical form = " + pcf);

    String wantPcf = Files.readString(testdata.resolve("canonical.json"), StandardCharsets.UTF_8).strip();
    if (!pcf.equals(wantPcf)) {
      fail("canonical form differs from canonical.json:\n    java " + pcf + "\n    file " + wantPcf);
    }
    Map<String, String> fpFile = readKeyValues(testdata.resolve("fingerprint.txt"));
    if (!fpHex.equals(fpFile.get("hex"))) {
      fail("fingerprint " + fpHex + " differs from fingerprint.txt hex=" + fpFile.get("hex"));
    }
    if (!Long.toString(fp).equals(fpFile.get("java_long"))) {
      fail("fingerprint " + fp + " differs from fingerprint.txt java_long=" + fpFile.get("java_long"));
    }
    byte[] le = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(fp).array();
    if (!hex(le).equals(fpFile.get("le_bytes"))) {
      fail("little-endian fingerprint " + hex(le) + " differs from fingerprint.txt le_bytes=" + fpFile.get("le_bytes"));
    }

    SchemaStore.Cache store = new SchemaStore.Cache();
    store.addSchema(schema);
    BinaryMessageDecoder<GenericRecord> decoder =
        new BinaryMessageDecoder<>(GenericData.get(), schema, store);

    List<Path> inputs;
    try (Stream<Path> s = Files.list(testdata)) {
      inputs = s.filter(p -> p.toString().endsWith(".json"))
          .filter(p -> !p.getFileName().toString().equals("canonical.json"))
          .sorted()
          .toList();
    }
    if (inputs.size() < 3) {
      fail("found " + inputs.size() + " golden inputs in " + testdata + ", want at least 3");
    }
    for (Path in : inputs) {
      String name = in.getFileName().toString().replaceFirst("\\.json$", "");
      JsonNode want = JSON.readTree(in.toFile());

      byte[] single = Files.readAllBytes(testdata.resolve(name + ".single.bin"));
      try {
        GenericRecord got = decoder.decode(single);
        compare(schema, got, want, name + ".single.bin");
      } catch (MissingSchemaException e) {
        fail(name + ".single.bin: BinaryMessageDecoder found no schema for its fingerprint: " + e.getMessage());
      } catch (Exception e) {
        fail(name + ".single.bin: decode: " + e);
      }

      // A record whose fingerprint is not the schema's must be refused: the
      // decoder really looks the schema up by fingerprint.
      byte[] corrupt = Arrays.copyOf(single, single.length);
      corrupt[2] ^= 0x01;
      try {
        decoder.decode(corrupt);
        fail(name + ".single.bin with a corrupted fingerprint decoded anyway");
      } catch (MissingSchemaException expected) {
        // as it should be
      }

      byte[] confluent = Files.readAllBytes(testdata.resolve(name + ".confluent.bin"));
      ByteBuffer hdr = ByteBuffer.wrap(confluent).order(ByteOrder.BIG_ENDIAN);
      if (confluent.length < 5 || hdr.get(0) != 0) {
        fail(name + ".confluent.bin: magic byte is not 0");
      } else if (hdr.getInt(1) != schemaId) {
        fail(name + ".confluent.bin: schema id " + hdr.getInt(1) + ", want " + schemaId);
      } else {
        try {
          var in2 = DecoderFactory.get().binaryDecoder(confluent, 5, confluent.length - 5, null);
          GenericRecord got = new GenericDatumReader<GenericRecord>(schema).read(null, in2);
          if (!in2.isEnd()) {
            fail(name + ".confluent.bin: trailing bytes after the record");
          }
          compare(schema, got, want, name + ".confluent.bin");
        } catch (Exception e) {
          fail(name + ".confluent.bin: decode: " + e);
        }
      }
      System.out.println("java: checked " + name + ".single.bin and " + name + ".confluent.bin against " + name + ".json");
    }
  }

  /** Compares an Avro datum with its JSON form: times as RFC 3339 strings, nulls as null. */
  private void compare(Schema s, Object got, JsonNode want, String path) {
    switch (s.getType()) {
      case RECORD -> {
        if (!(got instanceof GenericRecord r) || !want.isObject()) {
          fail(path + ": got " + got + ", want object " + want);
          return;
        }
        for (Iterator<String> it = want.fieldNames(); it.hasNext(); ) {
          String f = it.next();
          if (s.getField(f) == null) {
            fail(path + ": input has field " + f + " that the schema lacks");
          }
        }
        for (Schema.Field f : s.getFields()) {
          if (!want.has(f.name())) {
            fail(path + "." + f.name() + ": missing from the input JSON");
            continue;
          }
          compare(f.schema(), r.get(f.name()), want.get(f.name()), path + "." + f.name());
        }
      }
      case UNION -> {
        if (want.isNull()) {
          if (got != null) {
            fail(path + ": got " + got + ", want null");
          }
          return;
        }
        if (got == null) {
          fail(path + ": got null, want " + want);
          return;
        }
        Schema branch = s.getTypes().stream().filter(t -> t.getType() != Schema.Type.NULL).findFirst().orElseThrow();
        compare(branch, got, want, path);
      }
      case ARRAY -> {
        if (!(got instanceof List<?> l) || !want.isArray() || l.size() != want.size()) {
          fail(path + ": got " + got + ", want " + want);
          return;
        }
        for (int i = 0; i < l.size(); i++) {
          compare(s.getElementType(), l.get(i), want.get(i), path + "[" + i + "]");
        }
      }
      case STRING -> {
        if (got == null || !want.isTextual() || !got.toString().equals(want.asText())) {
          fail(path + ": got " + quote(got) + ", want " + want);
        }
      }
      case LONG -> {
        LogicalType lt = s.getLogicalType();
        long wantLong;
        if (lt instanceof LogicalTypes.TimestampMillis) {
          wantLong = Instant.parse(want.asText()).toEpochMilli();
        } else {
          wantLong = want.asLong();
        }
        if (!(got instanceof Long l) || l != wantLong) {
          fail(path + ": got " + got + ", want " + wantLong + " (" + want + ")");
        }
      }
      default -> fail(path + ": schema type " + s.getType() + " is not handled by the check");
    }
  }

  private static String quote(Object o) {
    return o == null ? "null" : "\"" + o + "\"";
  }

  private static String hex(byte[] b) {
    StringBuilder sb = new StringBuilder();
    for (byte x : b) {
      sb.append(String.format("%02x", x));
    }
    return sb.toString();
  }

  private static Map<String, String> readKeyValues(Path p) throws IOException {
    Map<String, String> m = new TreeMap<>();
    for (String line : Files.readAllLines(p, StandardCharsets.UTF_8)) {
      line = line.strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int eq = line.indexOf('=');
      if (eq > 0) {
        m.put(line.substring(0, eq), line.substring(eq + 1));
      }
    }
    return m;
  }
}
