/** @file
 * libcnsdiff — named configurations of the tunables (ALGORITHM.md §15).
 *
 * A preset is a complete set of values for every tunable of the model,
 * the sampler and the loss except the thread counts (a property of the
 * process, not of the method). Shapes (the descriptors' dim, layers,
 * steps, ...) are not part of a preset: they are fixed at create.
 *
 * CNS_PRESET_DEFAULT is what every handle starts with: a host that calls
 * cns_X_desc_init, cns_X_create and sets nothing has it, and so does the
 * `cnsdiff` tool with no flags. Applying it again resets the tunables.
 * The tables live in one place (lib/preset.c); ALGORITHM.md §15 lists
 * them, and the tests pin the handles' initial values to that list.
 *
 * Threads: cns_preset_apply writes the handles it is given, so each must
 * not be used by another thread during the call. cns_preset_name is
 * read-only and thread-safe.
 */
#ifndef CNSDIFF_PRESET_H
#define CNSDIFF_PRESET_H

#include "common.h"
#include "loss.h"
#include "model.h"
#include "sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Named configurations of the tunables, for cns_preset_apply() and
 * cns_preset_name(). */
typedef enum cns_preset {
    /** The library's default: the direction mode of §16
     * (CNS_MODE_DIRECTION) with CNS_LOSS_MIXING = 0 and
     * CNS_LOSS_CL_WEIGHT = 0.15 (the best eligible configuration on the
     * development suite's OOD validation splits, docs/BENCHMARKS.md); the
     * rest §12. Until 0.3: the reference mode of §13, mixing 0,
     * cl_weight 0.3. */
    CNS_PRESET_DEFAULT = 0,
    /** The method as the paper describes it: trained denoiser
     * (CNS_MODE_TRAINED), mixing on, every value of §12. */
    CNS_PRESET_PAPER = 1,
    /** The paper's public code (§13): CNS_MODE_REFERENCE, mixing on, the
     * rest §12. */
    CNS_PRESET_PAPER_CODE = 2,
    /** The constant-vector control (§16): CNS_MODE_DIRECTION with a
     * random direction of norm 3.9, mixing off, the rest §12. */
    CNS_PRESET_DIRECTION_CONTROL = 3
} cns_preset;

/** Sets every tunable of the given handles to the preset's values. Any of
 * model, sampler and loss may be NULL: the preset's values for the others
 * are applied. The sampler's values apply to every sampler kind (the
 * diffusion values are stored, and used only by DIFFUSION samplers).
 * Level values follow the handle's steps (ALGORITHM.md §15: num_steps =
 * steps; sample_start and stride become 1 where steps is smaller).
 * Every value is checked against every handle before the first one
 * changes: on failure no handle changes.
 * The thread counts (CNS_*_THREADS) are left alone. With all three
 * handles NULL it only checks the preset id.
 * Errors: CNS_E_ARG for an unknown preset, or (cannot happen with the
 * library's own tables) a value a handle refuses; err (optional)
 * receives the detail.
 * @param preset   a cns_preset
 * @param model    a model to set, or NULL
 * @param sampler  a sampler to set, or NULL
 * @param loss     a loss to set, or NULL
 * @param err      optional detail on failure
 * @return CNS_OK or CNS_E_ARG.
 */
CNS_API CNS_NODISCARD cns_status cns_preset_apply(int preset, cns_model *model,
                                                  cns_sampler *sampler, cns_loss *loss,
                                                  cns_error *err);

/** The preset's short name, as `cnsdiff --preset` takes it ("default",
 * "paper", "paper-code", "direction"), or NULL for an unknown id. The
 * string is static.
 * @param preset  a cns_preset
 * @return the name, or NULL.
 */
CNS_API const char *cns_preset_name(int preset);

#ifdef __cplusplus
}
#endif

#endif
