// libFuzzer target for the MQTT decoder. Build with clang only, e.g.
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//     tests/fuzz/fuzz_decode.cpp broker/codec/*.cpp -o fuzz_decode
// Beyond "no crash, no UB, no overread", it checks the decoder's contract: Ok consumes at
// most the input, NeedMore and Error consume nothing, and whatever decodes re-encodes to
// bytes that decode to the same packet (the encoder and decoder agree).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

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

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  one(in, ProtocolVersion::v5, 268435460);
  one(in, ProtocolVersion::v311, 268435460);
  one(in, ProtocolVersion::v5, 64);
  (void)valid_topic_filter(in);
  if (valid_topic_filter(in)) (void)parse_shared(in);
  return 0;
}
