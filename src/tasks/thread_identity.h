#pragma once
// Who the calling thread is in the kernel's eyes: the two numbers a UPID carries, so that a task
// can be told apart from a later thread that happens to reuse the same id.
#include <cstdint>
#include <optional>

namespace pvx::tasks {

// The kernel thread id of the calling thread (gettid).
std::uint32_t current_tid();

// Field 22 of /proc/self/task/<tid>/stat: the thread's start, in clock ticks since boot.
// nullopt when the thread is not ours or gone.
std::optional<std::uint64_t> thread_start_ticks(std::uint32_t tid);

}  // namespace pvx::tasks
