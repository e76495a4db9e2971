// Ring<T>: a FIFO in one contiguous circular buffer that allocates nothing while empty and
// gives its storage back when it empties after a burst. Replaces std::deque for the
// per-session queue and in-flight window: libstdc++'s deque allocates ~600 bytes on
// construction, which at 10,000 idle sessions is most of the broker's memory (issue 7).
// Thread safety: plain data; not thread-safe.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

namespace tern::core {

template <class T>
class Ring {
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);

 public:
  // Storage kept when the ring empties (in elements): steady light traffic (one message in
  // flight at a time) must not allocate per message, while a burst's larger buffer is
  // released so an idle session costs nothing.
  static constexpr std::uint32_t kKeepWhenEmpty = 4;

  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  Ring(Ring&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        head_(std::exchange(o.head_, 0)),
        size_(std::exchange(o.size_, 0)),
        cap_(std::exchange(o.cap_, 0)) {}
  Ring& operator=(Ring&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      head_ = std::exchange(o.head_, 0);
      size_ = std::exchange(o.size_, 0);
      cap_ = std::exchange(o.cap_, 0);
    }
    return *this;
  }
  ~Ring() { release(); }

  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return cap_; }

  // i-th element from the front. REQUIRES: i < size().
  T& operator[](std::size_t i) { return data_[slot(i)]; }
  const T& operator[](std::size_t i) const { return data_[slot(i)]; }
  T& front() { return (*this)[0]; }
  const T& front() const { return (*this)[0]; }
  // REQUIRES: !empty().
  T& back() { return (*this)[size_ - 1]; }
  const T& back() const { return (*this)[size_ - 1]; }

  void push_back(T&& v) {
    if (size_ == cap_) grow();
    ::new (static_cast<void*>(data_ + slot(size_))) T(std::move(v));
    ++size_;
  }

  // REQUIRES: !empty().
  void pop_front() {
    assert(size_ > 0);
    data_[head_].~T();
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
    if (size_ == 0) on_empty();
  }

  // Removes the i-th element, keeping the order of the rest. REQUIRES: i < size().
  void erase(std::size_t i) {
    assert(i < size_);
    for (std::size_t j = i; j + 1 < size_; ++j) (*this)[j] = std::move((*this)[j + 1]);
    (*this)[size_ - 1].~T();
    --size_;
    if (size_ == 0) on_empty();
  }

  // Removes every element for which pred(element) is true, keeping the order of the rest;
  // returns how many were removed.
  template <class Pred>
  std::size_t erase_if(Pred&& pred) {
    std::size_t keep = 0;
    for (std::size_t i = 0; i < size_; ++i) {
      if (pred((*this)[i])) continue;
      if (keep != i) (*this)[keep] = std::move((*this)[i]);
      ++keep;
    }
    const std::size_t removed = size_ - keep;
    for (std::size_t i = keep; i < size_; ++i) (*this)[i].~T();
    size_ = static_cast<std::uint32_t>(keep);
    if (size_ == 0) on_empty();
    return removed;
  }

  void clear() {
    for (std::size_t i = 0; i < size_; ++i) (*this)[i].~T();
    size_ = 0;
    head_ = 0;
    free_storage();
  }

 private:
  std::size_t slot(std::size_t i) const { return (head_ + i) & (cap_ - 1); }

  void grow() {
    const std::uint32_t cap = cap_ == 0 ? 2 : cap_ * 2;  // a power of two: slot() masks
    assert(cap_ < (std::uint32_t{1} << 31));
    T* data = static_cast<T*>(::operator new(sizeof(T) * cap));
    for (std::uint32_t i = 0; i < size_; ++i) {
      T& from = (*this)[i];
      ::new (static_cast<void*>(data + i)) T(std::move(from));
      from.~T();
    }
    free_storage();
    data_ = data;
    cap_ = cap;
    head_ = 0;
  }

  void on_empty() {
    head_ = 0;
    if (cap_ > kKeepWhenEmpty) free_storage();
  }

  void free_storage() {
    if (data_) ::operator delete(data_);
    data_ = nullptr;
    cap_ = 0;
  }

  void release() {
    for (std::size_t i = 0; i < size_; ++i) (*this)[i].~T();
    size_ = 0;
    free_storage();
  }

  T* data_ = nullptr;
  std::uint32_t head_ = 0;
  std::uint32_t size_ = 0;
  std::uint32_t cap_ = 0;
};

}  // namespace tern::core
