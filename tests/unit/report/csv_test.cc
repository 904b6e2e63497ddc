#include <catch2/catch.hpp>

#include "core/error.h"
#include "report/csv.h"

using namespace trainsim;
using namespace trainsim::report;
using Catch::Matchers::Contains;

TEST_CASE("csv: plain records, header lookup by name", "[report]") {
  const CsvTable t = parse_csv("id,tp,pp\nr1,8,2\nr2,4,1\n", "t.csv");
  REQUIRE(t.header().size() == 3);
  REQUIRE(t.records().size() == 2);
  CHECK(t.column("pp") == 2u);
  CHECK_FALSE(t.column("dp").has_value());
  CHECK(t.records()[1].fields[0] == "r2");
  // Header is line 1, so r1 starts on line 2 and r2 on line 3.
  CHECK(t.records()[0].line == 2);
  CHECK(t.records()[1].line == 3);
}

TEST_CASE("csv: quoted fields hold commas, line breaks and doubled quotes", "[report]") {
  const std::string text =
      "id,note,x\r\n"
      "a,\"one, two\",1\r\n"
      "b,\"first line\nsecond line\",2\r\n"
      "c,\"say \"\"hi\"\"\",3";  // no final line break (RFC 4180 rule 2)
  const CsvTable t = parse_csv(text, "q.csv");
  REQUIRE(t.records().size() == 3);
  CHECK(t.records()[0].fields[1] == "one, two");
  CHECK(t.records()[1].fields[1] == "first line\nsecond line");
  CHECK(t.records()[2].fields[1] == "say \"hi\"");
  CHECK(t.records()[2].fields[2] == "3");
  // Record c starts after the embedded line break: header 1, a 2, b 3-4, c 5.
  CHECK(t.records()[2].line == 5);
}

TEST_CASE("csv: empty fields, trailing comma and blank lines", "[report]") {
  const CsvTable t = parse_csv("a,b,c\n1,,\n\n,2,\n", "e.csv");
  REQUIRE(t.records().size() == 2);
  CHECK(t.records()[0].fields == std::vector<std::string>{"1", "", ""});
  CHECK(t.records()[1].fields == std::vector<std::string>{"", "2", ""});
  // The blank line 3 is skipped; the second record is on line 4.
  CHECK(t.records()[1].line == 4);
  // A short record keeps its own field count; the caller decides.
  CHECK(parse_csv("a,b,c\n1,2\n", "s.csv").records()[0].fields.size() == 2);
}

TEST_CASE("csv: syntax errors name the file and line", "[report]") {
  CHECK_THROWS_AS(parse_csv("", "empty.csv"), ConfigError);
  CHECK_THROWS_WITH(parse_csv("", "empty.csv"), Contains("empty.csv") && Contains("line 1"));
  // Quote opened on line 3 and never closed.
  CHECK_THROWS_WITH(parse_csv("a,b\n1,2\n3,\"open\n4,5\n", "open.csv"),
                    Contains("open.csv") && Contains("line 3") && Contains("closing"));
  // A quote inside an unquoted field (line 2, field 2).
  CHECK_THROWS_WITH(parse_csv("a,b\n1,2\"x\n", "inner.csv"), Contains("line 2") && Contains("field 2"));
  // Text after a closing quote.
  CHECK_THROWS_WITH(parse_csv("a,b\n\"x\"y,2\n", "after.csv"), Contains("line 2"));
  // Duplicate and empty header names.
  CHECK_THROWS_WITH(parse_csv("a,b,a\n", "dup.csv"), Contains("appears twice"));
  CHECK_THROWS_WITH(parse_csv("a,,c\n", "blank.csv"), Contains("column 2"));
}

TEST_CASE("csv: an unreadable file is an IoError", "[report]") {
  CHECK_THROWS_AS(read_csv("/nonexistent/dir/runs.csv"), IoError);
}
