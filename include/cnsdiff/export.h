/** @file
 * libcnsdiff — export macro.
 *
 * CNS_API marks the only symbols that leave the shared library; everything
 * else is built with hidden visibility. Define CNS_STATIC when linking the
 * static library (the CMake target cnsdiff::cnsdiff_static does it for you). */
#ifndef CNSDIFF_EXPORT_H
#define CNSDIFF_EXPORT_H

/** @def CNS_API
 * Marks a public function: default visibility (GCC, Clang), dllexport or
 * dllimport (Windows, CNS_BUILDING while building the library), nothing
 * with CNS_STATIC. */

#if defined(CNS_STATIC)
#  define CNS_API
#elif defined(_WIN32)
#  if defined(CNS_BUILDING)
#    define CNS_API __declspec(dllexport)
#  else
#    define CNS_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define CNS_API __attribute__((visibility("default")))
#else
#  define CNS_API
#endif

/** @def CNS_NODISCARD
 * Calls whose status must be looked at (warn_unused_result where the
 * compiler has it). */
#if defined(__GNUC__)
#  define CNS_NODISCARD __attribute__((warn_unused_result))
#else
#  define CNS_NODISCARD
#endif

#endif
