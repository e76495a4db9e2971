#include "tests/integration/harness/paho.hpp"

#include <catch2/catch.hpp>

namespace tern::it {

namespace {
constexpr Millis kOpTimeout{10000};
}

PahoClient::PahoClient(const std::string& uri, const std::string& client_id, int mqtt_version)
    : version_(mqtt_version) {
  // Paho C only speaks v5 on a client created for v5.
  cli_ = std::make_unique<mqtt::async_client>(uri, client_id, mqtt::create_options(mqtt_version));
  cli_->start_consuming();
}

PahoClient::~PahoClient() {
  try {
    if (cli_->is_connected()) cli_->disconnect(Millis(1000))->wait_for(Millis(2000));
  } catch (const std::exception&) {
    // Best effort: the broker may already be gone.
  }
}

mqtt::connect_options_builder PahoClient::options(
    bool clean, std::optional<std::uint32_t> session_expiry) const {
  mqtt::connect_options_builder b;
  b.mqtt_version(version_).keep_alive_interval(std::chrono::seconds(30))
      .connect_timeout(std::chrono::seconds(5));
  if (version_ == MQTTVERSION_5) {
    b.clean_start(clean);
    if (session_expiry) {
      mqtt::properties p;
      p.add({mqtt::property::SESSION_EXPIRY_INTERVAL, static_cast<int>(*session_expiry)});
      b.properties(p);
    }
  } else {
    b.clean_session(clean);
  }
  return b;
}

mqtt::connect_response PahoClient::connect(mqtt::connect_options opts) {
  auto tok = cli_->connect(std::move(opts));
  REQUIRE(tok->wait_for(kOpTimeout));
  lost_ = false;
  return tok->get_connect_response();
}

int PahoClient::subscribe(const std::string& filter, int qos,
                          const mqtt::subscribe_options& opts) {
  auto tok = cli_->subscribe(filter, qos, opts);
  REQUIRE(tok->wait_for(kOpTimeout));
  const auto codes = tok->get_subscribe_response().get_reason_codes();
  REQUIRE(codes.size() == 1);
  return static_cast<int>(codes[0]);
}

void PahoClient::publish(const std::string& topic, const std::string& payload, int qos,
                         bool retain, const mqtt::properties& props) {
  auto msg = mqtt::message_ptr_builder()
                 .topic(topic)
                 .payload(payload)
                 .qos(qos)
                 .retained(retain)
                 .properties(props)
                 .finalize();
  auto tok = cli_->publish(msg);
  REQUIRE(tok->wait_for(kOpTimeout));
}

void PahoClient::disconnect() {
  auto tok = cli_->disconnect();
  REQUIRE(tok->wait_for(kOpTimeout));
}

mqtt::const_message_ptr PahoClient::next(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    mqtt::const_message_ptr m;
    const auto left = std::chrono::duration_cast<Millis>(deadline -
                                                         std::chrono::steady_clock::now());
    if (left.count() <= 0 || !cli_->try_consume_message_for(&m, left)) return nullptr;
    if (m) return m;
    lost_ = true;  // Paho queues a null message when the connection is lost
  }
}

std::vector<mqtt::const_message_ptr> PahoClient::collect(std::size_t n, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<mqtt::const_message_ptr> out;
  while (out.size() < n) {
    const auto left = std::chrono::duration_cast<Millis>(deadline -
                                                         std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (auto m = next(left)) out.push_back(std::move(m));
  }
  return out;
}

bool PahoClient::quiet_for(Millis d) { return next(d) == nullptr; }

}  // namespace tern::it
