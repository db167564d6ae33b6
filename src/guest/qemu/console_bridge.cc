#include "guest/qemu/console_bridge.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>

#include <chrono>
#include <optional>
#include <variant>
#include <vector>

#include "base/error.h"
#include "base/log.h"
#include "guest/qemu/console_protocol.h"

namespace pvx::guest::qemu {
namespace {

namespace asio = boost::asio;
using unix_stream = asio::local::stream_protocol;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr auto kAuthTimeout = 10s;  // termproxy's limit for the ticket line

// Lifecycle: made by the vncwebsocket handler for a claimed session; run() once by the server on
// the connection's strand. Everything below runs on that strand, except the abort hook, which
// only posts to it. Reports the session ended when destroyed, also when the server is torn down
// before run() finished.
class ConsoleBridge final : public http::WebSocketSession, public std::enable_shared_from_this<ConsoleBridge> {
 public:
  ConsoleBridge(std::shared_ptr<ConsoleSession> session, TicketCheck check)
      : session_(std::move(session)), check_ticket_(std::move(check)) {}
  ~ConsoleBridge() override { session_->ended(); }

  asio::awaitable<void> run(http::WebSocket& ws) override {
    auto executor = co_await asio::this_coro::executor;
    deadline_.emplace(executor);
    std::weak_ptr<ConsoleBridge> weak = weak_from_this();
    session_->set_abort([weak, executor] {
      asio::post(executor, [weak] {
        if (auto self = weak.lock()) self->abort();
      });
    });

    const bool terminal = session_->target().kind == ConsoleKind::Terminal;
    std::string rest;  // client bytes that came with the ticket line
    if (terminal) {
      auto result = co_await (authenticate(ws, rest) || watchdog(ws));
      if (result.index() != 0 || !std::get<0>(result)) co_return;
    }
    phase_ = Phase::Pumping;
    if (aborted_) co_return;
    if (terminal && !co_await ws.write("OK")) co_return;

    std::string what = terminal ? session_->target().serial : "VNC";
    std::string failure;
    if (session_->target().open) {
      // A descriptor the target opens itself (a container's console pty).
      try {
        stream_.emplace(executor, session_->target().open());
      } catch (const std::exception& e) {
        failure = e.what();
      }
    } else {
      unix_stream::socket socket(executor);
      auto [ec] = co_await socket.async_connect(unix_stream::endpoint(session_->target().socket.string()), kNoThrow);
      if (ec) failure = ec.message();
      else stream_.emplace(executor, socket.release());
    }
    if (aborted_) co_return;
    if (!failure.empty()) {
      log::warn("guest " + std::to_string(session_->vmid()) + ": unable to connect to " + what + " - " + failure);
      if (terminal) co_await ws.write("unable to connect to " + what + " - " + failure + "\r\n");
      co_return;
    }
    if (terminal && !session_->target().open &&
        !co_await ws.write("starting serial terminal on interface " + session_->target().serial + "\r\n")) {
      co_return;
    }
    co_await (socket_to_client(ws) && client_to_socket(ws, std::move(rest)));
  }

 private:
  enum class Phase { Auth, Pumping };

  // The ticket line; true when it names the session's user with a valid ticket.
  asio::awaitable<bool> authenticate(http::WebSocket& ws, std::string& rest) {
    TicketLineReader reader;
    std::string message;
    while (co_await ws.read(message)) {
      std::optional<TicketLine> line;
      try {
        line = reader.feed(message, rest);
      } catch (const Error&) {
        co_return false;
      }
      if (line) co_return check_ticket_ && check_ticket_(line->user, line->ticket);
    }
    co_return false;
  }

  // Ends a connection that does not authenticate in time, or is aborted meanwhile. Cancelled
  // (and then does nothing) when authenticate() finishes first.
  asio::awaitable<void> watchdog(http::WebSocket& ws) {
    deadline_->expires_after(kAuthTimeout);
    auto [ec] = co_await deadline_->async_wait(kNoThrow);
    if (phase_ == Phase::Auth && (!ec || aborted_)) co_await ws.close();
  }

  // QEMU -> client. The only writer once pumping; closes the WebSocket when QEMU's side ends.
  asio::awaitable<void> socket_to_client(http::WebSocket& ws) {
    std::vector<char> buffer(kReadChunk);
    for (;;) {
      auto [ec, n] = co_await stream_->async_read_some(asio::buffer(buffer), kNoThrow);
      if (ec) break;
      if (!co_await ws.write(std::string_view(buffer.data(), n))) break;
    }
    close_socket();
    co_await ws.close();
  }

  // Client -> QEMU: RFB as it is, or the terminal's decoded input.
  asio::awaitable<void> client_to_socket(http::WebSocket& ws, std::string message) {
    const bool terminal = session_->target().kind == ConsoleKind::Terminal;
    TermproxyDecoder decoder;
    std::string out;
    do {
      out.clear();
      if (terminal) {
        try {
          for (auto& event : decoder.feed(message)) {
            if (event.kind == TermEvent::Kind::Input) out += event.data;
            // A pty takes the window size; a serial port has none.
            if (event.kind == TermEvent::Kind::Resize && session_->target().open) resize(event.cols, event.rows);
          }
        } catch (const Error& e) {
          log::debug("VM " + std::to_string(session_->vmid()) + " terminal: " + e.what());
          break;
        }
      } else {
        out.swap(message);
      }
      if (!out.empty()) {
        auto [ec, n] = co_await asio::async_write(*stream_, asio::buffer(out), kNoThrow);
        if (ec) break;
      }
    } while (co_await ws.read(message));
    close_socket();  // wakes socket_to_client, which closes the WebSocket
  }

  void close_socket() {
    boost::system::error_code ec;
    if (!stream_ || !stream_->is_open()) return;
    ::shutdown(stream_->native_handle(), SHUT_RDWR);  // a socket's peer sees the end at once; a pty ignores it
    stream_->close(ec);
  }

  void resize(int cols, int rows) {
    if (cols <= 0 || rows <= 0 || !stream_ || !stream_->is_open()) return;
    winsize ws{};
    ws.ws_col = static_cast<unsigned short>(cols);
    ws.ws_row = static_cast<unsigned short>(rows);
    ::ioctl(stream_->native_handle(), TIOCSWINSZ, &ws);
  }

  // The task was stopped: end the connection from whatever phase it is in.
  void abort() {
    aborted_ = true;
    if (phase_ == Phase::Auth) {
      deadline_->cancel();
    } else {
      close_socket();
    }
  }

  std::shared_ptr<ConsoleSession> session_;
  TicketCheck check_ticket_;
  std::optional<asio::posix::stream_descriptor> stream_;  // the connected socket or the pty
  std::optional<asio::steady_timer> deadline_;
  Phase phase_ = Phase::Auth;
  bool aborted_ = false;
};

}  // namespace

std::shared_ptr<http::WebSocketSession> make_console_bridge(std::shared_ptr<ConsoleSession> session,
                                                            TicketCheck check_ticket) {
  return std::make_shared<ConsoleBridge>(std::move(session), std::move(check_ticket));
}

}  // namespace pvx::guest::qemu
