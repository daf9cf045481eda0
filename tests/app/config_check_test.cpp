// The pure configuration checks: every value that would otherwise end in a retry loop or a silent
// surprise is named; the values the deploy files and tests use pass.
#include <catch2/catch.hpp>

#include "app/config_check.h"

using namespace wa::app;

TEST_CASE("check_database_url: usable URLs and conninfo strings pass", "[config]") {
  for (const char* ok :
       {"postgresql://postgres@127.0.0.1:5432/postgres",
        "postgresql://u@10.0.0.1:5432,10.0.0.2:5433/db?target_session_attrs=read-write&connect_timeout=2",
        "postgresql://postgres@127.0.0.1:40000/postgres?host=/tmp/pg/sock",
        "host=db port=5432 dbname=wa sslmode=verify-full", "host=a,b port=5432",
        "host=a,b port=1,2 hostaddr=127.0.0.1,::1", "dbname=x keepalives=1 tcp_user_timeout=3000"}) {
    INFO(ok);
    CHECK(check_database_url(ok).empty());
  }
}

TEST_CASE("check_database_url: bad values are named", "[config]") {
  struct Case {
    const char* url;
    const char* says;
  };
  for (const auto& c :
       {Case{"", "is empty"}, Case{"   ", "is empty"},
        Case{"postgresql://h/db?sslmode=bogus", "sslmode='bogus'"},
        Case{"host=h sslmode=bogus", "sslmode='bogus'"}, Case{"host=h port=fivefour", "port 'fivefour'"},
        Case{"host=h port=0", "port '0'"}, Case{"host=h port=70000", "port '70000'"},
        Case{"host=a,b,c port=1,2", "2 ports for 3 hosts"},
        Case{"host=h target_session_attrs=leader", "target_session_attrs='leader'"},
        Case{"host=h gssencmode=maybe", "gssencmode='maybe'"},
        Case{"host=h connect_timeout=soon", "connect_timeout='soon'"},
        Case{"hostaddr=db.example", "hostaddr 'db.example'"}, Case{"host=h nosuchkey=1", "cannot parse"},
        Case{"postgresql://h:5432x/db", "port '5432x'"}}) {
    INFO(c.url);
    const auto e = check_database_url(c.url);
    CHECK_THAT(e, Catch::Contains(c.says));
  }
}

TEST_CASE("database_dns_hosts: only names that need a lookup", "[config]") {
  CHECK(database_dns_hosts("postgresql://u@db.internal:5432,10.0.0.2:5433/x") ==
        std::vector<std::string>{"db.internal"});
  CHECK(database_dns_hosts("host=/tmp/sock dbname=x").empty());
  CHECK(database_dns_hosts("host=a,::1 port=1,2") == std::vector<std::string>{"a"});
  CHECK(database_dns_hosts("host=name hostaddr=127.0.0.1").empty());
}

TEST_CASE("check_listen_host: IP literals only, no wrap-around", "[config]") {
  for (const char* ok : {"0.0.0.0", "127.0.0.1", "::", "::1", "10.213.77.2"})
    CHECK(check_listen_host(ok).empty());
  for (const char* bad : {"256.0.0.0", "1.2.3", "localhost", "300.1.1.1", "", "1.2.3.4.5"}) {
    INFO(bad);
    CHECK_THAT(check_listen_host(bad), Catch::Contains("is not an IPv4 or IPv6 address"));
  }
}

TEST_CASE("check_wa_url: a ws/wss URL with a host, or none", "[config]") {
  for (const char* ok :
       {"none", "wss://web.whatsapp.com/ws/chat", "ws://127.0.0.1:5000/ws/chat", "ws://[::1]:80/"})
    CHECK(check_wa_url(ok).empty());
  CHECK_THAT(check_wa_url("ws://"), Catch::Contains("no host"));
  CHECK_THAT(check_wa_url("wss:///ws/chat"), Catch::Contains("no host"));
  CHECK_THAT(check_wa_url("ws://h:99999/"), Catch::Contains("bad port"));
  CHECK_THAT(check_wa_url("http://h/"), Catch::Contains("ws:// or wss://"));
  CHECK_THAT(check_wa_url("ws://user:pw@h/"), Catch::Contains("credentials"));
}

TEST_CASE("check_pod_name: a pod name or hostname", "[config]") {
  for (const char* ok : {"pod-0", "waconnector-2", "p1", "node.example.internal", "a_b"})
    CHECK(check_pod_name(ok).empty());
  CHECK(check_pod_name(std::string(253, 'a')).empty());
  CHECK_THAT(check_pod_name(std::string(254, 'a')), Catch::Contains("254 characters"));
  CHECK_THAT(check_pod_name(std::string(100000, 'p')), Catch::Contains("100000 characters"));
  CHECK_THAT(check_pod_name(""), Catch::Contains("empty"));
  CHECK_THAT(check_pod_name("pod 1"), Catch::Contains("0x20"));
  CHECK_THAT(check_pod_name("pod\n"), Catch::Contains("0x0a"));
  CHECK_THAT(check_pod_name("p\"d"), Catch::Contains("0x22"));
}
