#include "tests/integration/harness/mosquitto.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "tests/integration/harness/broker.hpp"

namespace tern::it {

namespace {

constexpr const char* kMosquitto = "/usr/sbin/mosquitto";

bool can_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

void openssl(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  std::string shown;
  for (const auto& a : args) shown += a + " ";
  const auto r = run_command(args, Millis(30000), dir + "/openssl.log");
  INFO("openssl output:\n" << r.output);
  REQUIRE_FALSE(r.timed_out);
  if (r.status != 0) FAIL("failed (" << r.status << "): " << shown);
}

// A self-signed CA certificate and key under `dir`/`name`.crt / .key.
void make_ca(const std::string& dir, const std::string& name, const std::string& cn) {
  openssl(dir, {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", dir + "/" + name + ".key", "-out", dir + "/" + name + ".crt",
                "-days", "2", "-subj", "/CN=" + cn, "-addext",
                "basicConstraints=critical,CA:TRUE", "-addext",
                "keyUsage=critical,keyCertSign,cRLSign"});
}

}  // namespace

std::uint16_t pick_free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot pick a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

TestPki make_test_pki(const std::string& dir) {
  make_ca(dir, "ca", "Tern Test CA");
  make_ca(dir, "other-ca", "Unrelated Test CA");
  TestPki pki;
  pki.ca_cert = dir + "/ca.crt";
  pki.other_ca_cert = dir + "/other-ca.crt";
  pki.server_cert = dir + "/server.crt";
  pki.server_key = dir + "/server.key";
  openssl(dir, {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", pki.server_key, "-out", dir + "/server.csr", "-subj", "/CN=localhost"});
  const std::string ext = dir + "/server.ext";
  std::ofstream(ext) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                     << "basicConstraints=CA:FALSE\n"
                     << "keyUsage=critical,digitalSignature,keyEncipherment\n"
                     << "extendedKeyUsage=serverAuth\n";
  openssl(dir, {"x509", "-req", "-in", dir + "/server.csr", "-CA", pki.ca_cert, "-CAkey",
                dir + "/ca.key", "-CAcreateserial", "-out", pki.server_cert, "-days", "2",
                "-extfile", ext});
  return pki;
}

MosquittoBroker::MosquittoBroker(MosquittoOptions opts) : opts_(std::move(opts)) {
  dir_ = make_temp_dir("tern-it-mosq");
  config_path_ = dir_ + "/mosquitto.conf";
  log_path_ = dir_ + "/mosquitto.log";
  register_test_log("mosquitto (cloud) output", log_path_);
  port_ = pick_free_loopback_port();
  std::ofstream conf(config_path_);
  conf << "listener " << port_ << " 127.0.0.1\n"
       << "allow_anonymous true\n"
       << "log_dest stderr\n"
       << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
       << "connection_messages true\n"
       // The bridge tests queue thousands of QoS 1 messages for one subscriber: mosquitto's
       // default of 1000 would drop the rest and look like a bridge loss.
       << "max_queued_messages 1000000\n";
  if (opts_.persistence) {
    conf << "persistence true\n"
         << "persistence_location " << dir_ << "/\n"
         << "autosave_interval 0\n";  // saved at exit (SIGTERM)
  } else {
    conf << "persistence false\n";
  }
  // Started as root, mosquitto drops to the `mosquitto` user, which cannot write into our
  // 0700 temp directory nor read the test keys there.
  if (::geteuid() == 0) conf << "user root\n";
  if (opts_.tls) {
    conf << "certfile " << opts_.tls->first << "\n"
         << "keyfile " << opts_.tls->second << "\n";
    if (opts_.plain_listener_too) {
      plain_port_ = pick_free_loopback_port();
      conf << "listener " << plain_port_ << " 127.0.0.1\n";
    }
  }
  conf << opts_.extra << "\n";
  conf.close();
  start();
}

MosquittoBroker::~MosquittoBroker() {
  if (proc_ && proc_->running()) proc_->terminate(Millis(5000));
}

std::string MosquittoBroker::bridge_uri() const {
  return std::string(opts_.tls ? "mqtts" : "mqtt") + "://127.0.0.1:" + std::to_string(port_);
}

void MosquittoBroker::stop() {
  if (proc_ && proc_->running()) proc_->terminate(Millis(5000));
}

void MosquittoBroker::start() {
  REQUIRE_FALSE(running());
  proc_ = std::make_unique<Subprocess>(std::vector<std::string>{kMosquitto, "-c", config_path_},
                                       log_path_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!can_connect(port_) || (plain_port_ != 0 && !can_connect(plain_port_))) {
    if (!proc_->running()) {
      FAIL("mosquitto exited with status " << proc_->exit_status().value_or(-1)
                                           << " before listening on port " << port_
                                           << "; output:\n"
                                           << log());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      FAIL("mosquitto does not listen on 127.0.0.1:" << port_ << " after 10 s; output:\n"
                                                     << log());
    }
    sleep_for(Millis(20));
  }
}

std::string MosquittoBroker::log() const { return read_file(log_path_); }

}  // namespace tern::it
