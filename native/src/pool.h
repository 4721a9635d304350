// A small thread pool: parallelFor(n, chunk, fn) runs fn(begin, end) over [0, n) in chunks
// taken from a shared counter by the calling thread and the workers. Size: MNXC_NATIVE_THREADS
// or std::thread::hardware_concurrency(). Results never depend on which thread ran a chunk
// (reductions keep one partial per chunk, not per thread), so they do not depend on timing.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mnxc {

class Pool {
 public:
  explicit Pool(int threads) : size_(std::max(1, threads)) {
    for (int t = 1; t < size_; t++) workers_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int size() const { return size_; }

  template <typename F>
  void parallelFor(int64_t n, int64_t chunk, F&& fn) {
    if (n <= 0) return;
    chunk = std::max<int64_t>(1, chunk);
    if (size_ == 1 || n <= chunk) {
      fn(int64_t(0), n);
      return;
    }
    std::function<void(int64_t, int64_t)> job = [&fn](int64_t b, int64_t e) { fn(b, e); };
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      total_ = n;
      chunk_ = chunk;
      next_.store(0);
      pending_ = size_ - 1;
      generation_++;
    }
    wake_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
  }

 private:
  void work() {
    for (;;) {
      int64_t b = next_.fetch_add(chunk_);
      if (b >= total_) break;
      (*job_)(b, std::min(total_, b + chunk_));
    }
  }
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
      }
      work();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }

  int size_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool quit_ = false;
  std::function<void(int64_t, int64_t)>* job_ = nullptr;
  std::atomic<int64_t> next_{0};
  int64_t total_ = 0, chunk_ = 1;
};

Pool& pool();

}  // namespace mnxc
