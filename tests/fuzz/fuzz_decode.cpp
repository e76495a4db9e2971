// Fuzz target for the MQTT decoder. libFuzzer (clang): the fuzz_decode target of a clang
// build, or by hand:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_decode.cpp broker/codec/*.cpp
// GCC: the fuzz_decode_standalone target (standalone_main.cpp, seeds below), run by CTest.
// Beyond "no crash, no UB, no overread", it checks the decoder's contract: Ok consumes at
// most the input, NeedMore and Error consume nothing, and whatever decodes re-encodes to
// bytes that decode to the same packet (the encoder and decoder agree).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "broker/codec/codec.hpp"

using namespace tern::codec;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void one(std::string_view in, ProtocolVersion v, std::uint32_t max) {
  DecodeOptions o;
  o.version = v;
  o.max_packet_size = max;
  const DecodeResult r = decode(in, o);
  if (r.status != DecodeStatus::Ok) {
    check(r.consumed == 0);
    if (r.status == DecodeStatus::Error) check(r.detail != nullptr && r.detail[0] != '\0');
    return;
  }
  check(r.consumed >= 2 && r.consumed <= in.size() && r.consumed <= max);
  // CONNECT carries its own version; everything else uses the negotiated one.
  const ProtocolVersion ev = std::holds_alternative<Connect>(r.packet)
                                 ? std::get<Connect>(r.packet).version
                                 : v;
  std::string again;
  encode(r.packet, ev, again);
  DecodeOptions o2 = o;
  o2.max_packet_size = 268435460;
  const DecodeResult r2 = decode(again, o2);
  check(r2.status == DecodeStatus::Ok);
  check(r2.consumed == again.size());
  check(r2.packet == r.packet);
  if (const auto* p = std::get_if<Publish>(&r.packet)) {
    PublishView view;
    view.qos = p->qos;
    view.retain = p->retain;
    view.dup = p->dup;
    view.topic = p->topic;
    view.packet_id = p->packet_id;
    view.payload = p->payload;
    view.props = &p->props;
    view.topic_alias = p->props.topic_alias.value_or(0);
    view.subscription_identifiers = p->props.subscription_identifiers;
    check(publish_size(view, v) == again.size());
  }
}

}  // namespace

// Seeds for the standalone driver (libFuzzer ignores this function): one of each packet
// type, with properties, encoded by the encoder in both versions.
std::vector<std::string> tern_fuzz_seeds() {
  Properties props;
  props.message_expiry_interval = 60;
  props.content_type = "text/plain";
  props.correlation_data = "corr";
  props.user_properties.push_back({"k", "v"});
  Connect c;
  c.client_id = "fuzz";
  c.keep_alive = 60;
  c.username = "user";
  c.password = "pass";
  c.will = Will{"will/t", "bye", 1, true, {}};
  c.props.session_expiry_interval = 30;
  Publish p0;
  p0.topic = "a/b";
  p0.payload = "hello";
  Publish p1 = p0;
  p1.qos = 1;
  p1.packet_id = 7;
  p1.props = props;
  p1.props.topic_alias = 3;
  Subscribe sub;
  sub.packet_id = 9;
  sub.entries.push_back({"a/+/#", 2, true, true, 1});
  sub.entries.push_back({"$share/g/x", 1, false, false, 0});
  Unsubscribe unsub;
  unsub.packet_id = 10;
  unsub.filters = {"a/#", "b"};
  Connack ca;
  ca.session_present = true;
  ca.props.receive_maximum = 10;
  Suback sa;
  sa.packet_id = 9;
  sa.reason_codes = {0, 1, 0x80};
  Unsuback ua;
  ua.packet_id = 10;
  ua.reason_codes = {0, 0x11};
  Puback pa;
  pa.packet_id = 7;
  pa.reason_code = 0x10;
  Pubrel pr;
  pr.packet_id = 8;
  Disconnect d;
  d.reason_code = 0x04;
  d.props.reason_string = "bye";
  Auth au;
  au.reason_code = 0x18;
  au.props.authentication_method = "SCRAM";
  const std::vector<Packet> packets = {c, ca, p0, p1, pa, Pubrec{}, pr, Pubcomp{}, sub, sa,
                                       unsub, ua, Pingreq{}, Pingresp{}, d, au};
  std::vector<std::string> seeds;
  for (ProtocolVersion v : {ProtocolVersion::v5, ProtocolVersion::v311}) {
    std::string all;
    for (const auto& pk : packets) {
      if (v == ProtocolVersion::v311 && std::holds_alternative<Auth>(pk)) continue;
      Packet q = pk;
      if (auto* cc = std::get_if<Connect>(&q)) cc->version = v;
      std::string one_packet;
      encode(q, v, one_packet);
      all += one_packet;
      seeds.push_back(std::move(one_packet));
    }
    seeds.push_back(std::move(all));
  }
  return seeds;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  one(in, ProtocolVersion::v5, 268435460);
  one(in, ProtocolVersion::v311, 268435460);
  one(in, ProtocolVersion::v5, 64);
  (void)valid_topic_filter(in);
  if (valid_topic_filter(in)) (void)parse_shared(in);
  return 0;
}
