// byo_embeddings — bring your own model: a C++17 host with its own
// matrix-factorisation tables and its own SGD takes only CNSDiff's
// negatives (cns_sampler_*) and gradients (cns_loss_*) from libcnsdiff.
//
// The host owns everything else: the data (generated here: users and
// items in taste groups), the tables, the batching, the random negative,
// the learning rate, the L2 term and the evaluation (Recall@20 on held-out
// pairs, computed by the host itself). docs/EMBEDDING.md explains each
// step. Exit status 0 when the trained tables beat a random ranking by a
// wide margin (ctest runs it), 1 otherwise or on any library error.
//
//   usage: byo_embeddings [EPOCHS]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <cnsdiff/cnsdiff.h>

namespace {

constexpr int kUsers = 240, kItems = 300, kGroups = 5, kPerUser = 14, kHeld = 2;
constexpr int kDim = 32, kBatch = 256, kTopK = 20;

// Any failing call ends the program with the library's own detail.
void check(cns_status st, const char *what, const char *detail) {
    if (st != CNS_OK)
        throw std::runtime_error(std::string(what) + ": " + cns_status_name(st) + ": " + detail);
}

struct Data {
    std::vector<std::set<int32_t>> train, test;  // per user
    std::vector<std::pair<int32_t, int32_t>> pairs;  // training pairs
};

// Users and items fall into kGroups taste groups; a user interacts with
// random items of its own group only. kHeld of them per user are held out.
Data make_data(std::mt19937_64 &rng) {
    Data d;
    d.train.resize(kUsers);
    d.test.resize(kUsers);
    const int per_group = kItems / kGroups;
    for (int u = 0; u < kUsers; ++u) {
        const int g = u % kGroups;
        std::uniform_int_distribution<int> pick(g * per_group, (g + 1) * per_group - 1);
        std::set<int32_t> items;
        while ((int)items.size() < kPerUser) items.insert(pick(rng));
        // A random kHeld of them are held out (not the smallest ids: those
        // would be held out by every user and never trained).
        std::vector<int32_t> v(items.begin(), items.end());
        std::shuffle(v.begin(), v.end(), rng);
        for (int k = 0; k < kPerUser; ++k) (k < kHeld ? d.test : d.train)[u].insert(v[k]);
        for (int32_t i : d.train[u]) d.pairs.emplace_back(u, i);
    }
    return d;
}

// The host's Recall@20: held-out items among the 20 best-scored items the
// user has not trained on.
double recall_at_k(const Data &d, const std::vector<float> &U, const std::vector<float> &V) {
    double sum = 0.0;
    std::vector<std::pair<float, int32_t>> scored;
    for (int u = 0; u < kUsers; ++u) {
        scored.clear();
        for (int32_t i = 0; i < kItems; ++i) {
            if (d.train[u].count(i)) continue;
            float s = 0.0f;
            for (int k = 0; k < kDim; ++k) s += U[u * kDim + k] * V[i * kDim + k];
            scored.emplace_back(-s, i);
        }
        std::partial_sort(scored.begin(), scored.begin() + kTopK, scored.end());
        int hits = 0;
        for (int r = 0; r < kTopK; ++r) hits += (int)d.test[u].count(scored[r].second);
        sum += (double)hits / (double)d.test[u].size();
    }
    return sum / kUsers;
}

// RAII for the two handles the host uses.
struct Handles {
    cns_sampler *sampler = nullptr;
    cns_loss *loss = nullptr;
    ~Handles() {
        cns_sampler_free(sampler);
        cns_loss_free(loss);
    }
};

int run(int epochs) {
    std::mt19937_64 rng(42);
    const Data data = make_data(rng);

    // The host's tables: small uniform values, as its own initialiser does.
    std::vector<float> U(kUsers * kDim), V(kItems * kDim);
    std::uniform_real_distribution<float> init(-0.1f, 0.1f);
    for (float &x : U) x = init(rng);
    for (float &x : V) x = init(rng);

    Handles h;
    cns_error err;
    cns_sampler_desc sd;
    cns_sampler_desc_init(&sd);
    sd.dim = kDim;
    check(cns_sampler_create(&sd, nullptr, &h.sampler, &err), "cns_sampler_create", err.message);
    // Fresh handles hold the default preset (ALGORITHM.md §15): the direction
    // mode (one fixed vector as h, nothing to train) with mixing 0 and
    // cl_weight 0.15 on the loss. Nothing to set.
    cns_loss_desc ld;
    cns_loss_desc_init(&ld);
    ld.dim = kDim;
    check(cns_loss_create(&ld, nullptr, &h.loss, &err), "cns_loss_create", err.message);

    // Batch buffers: the host gathers rows, the library writes h and the
    // per-row gradients.
    std::vector<float> eu(kBatch * kDim), ep(kBatch * kDim), en(kBatch * kDim),
        synth(kBatch * kDim), gu(kBatch * kDim), gp(kBatch * kDim), gn(kBatch * kDim);
    std::vector<int64_t> bu(kBatch), bp(kBatch), bn(kBatch);
    const float lr = 0.05f, l2 = 1e-4f;
    const double recall0 = recall_at_k(data, U, V);
    std::vector<std::pair<int32_t, int32_t>> order = data.pairs;
    std::uniform_int_distribution<int32_t> any_item(0, kItems - 1);

    auto gather = [&](const std::vector<float> &table, int64_t rows, const std::vector<int64_t> &ids,
                      size_t n, std::vector<float> &out) {
        cns_rows_src src;
        cns_rows_src_init(&src);
        src.dim = kDim;
        src.base = table.data();
        src.num_rows = rows;
        src.index = ids.data();
        cns_error e;
        check(cns_rows_gather(&src, n, out.data(), 0, &e), "cns_rows_gather", e.message);
    };

    double first_bpr = 0.0, last_bpr = 0.0;
    for (int epoch = 0; epoch < epochs; ++epoch) {
        std::shuffle(order.begin(), order.end(), rng);
        check(cns_loss_set_epoch(h.loss, epoch), "cns_loss_set_epoch", cns_loss_last_error(h.loss));
        double bpr_sum = 0.0;
        size_t batches = 0;
        for (size_t b0 = 0; b0 < order.size(); b0 += kBatch) {
            const size_t n = std::min<size_t>(kBatch, order.size() - b0);
            for (size_t r = 0; r < n; ++r) {
                const auto [u, i] = order[b0 + r];
                int32_t j;
                do j = any_item(rng);  // the host's own random negative
                while (data.train[u].count(j));
                bu[r] = u, bp[r] = i, bn[r] = j;
            }
            gather(U, kUsers, bu, n, eu);
            gather(V, kItems, bp, n, ep);
            gather(V, kItems, bn, n, en);
            // The synthesized negative h: width checked against the sampler's.
            check(cns_sampler_draw_rows(h.sampler, kDim, eu.data(), 0, ep.data(), 0, n, synth.data(), 0),
                  "cns_sampler_draw_rows", cns_sampler_last_error(h.sampler));
            cns_loss_rows rows;
            cns_loss_rows_init(&rows);
            rows.dim = kDim;
            rows.n = n;
            rows.per_row = 1;  // gradients of the batch sum: the host's lr applies per row
            rows.u = eu.data(), rows.pos = ep.data(), rows.neg = en.data(), rows.synth = synth.data();
            rows.grad_u = gu.data(), rows.grad_pos = gp.data(), rows.grad_neg = gn.data();
            check(cns_loss_compute_rows(h.loss, &rows, nullptr), "cns_loss_compute_rows",
                  cns_loss_last_error(h.loss));
            bpr_sum += cns_loss_term_value(h.loss, CNS_TERM_BPR);
            ++batches;
            // The host's SGD with its own L2, row by row.
            auto step = [&](std::vector<float> &table, int64_t row, const float *g) {
                float *x = &table[(size_t)row * kDim];
                for (int k = 0; k < kDim; ++k) x[k] -= lr * (g[k] + l2 * x[k]);
            };
            for (size_t r = 0; r < n; ++r) {
                step(U, bu[r], &gu[r * kDim]);
                step(V, bp[r], &gp[r * kDim]);
                step(V, bn[r], &gn[r * kDim]);
            }
        }
        const double bpr = bpr_sum / (double)batches;
        if (epoch == 0) first_bpr = bpr;
        last_bpr = bpr;
        std::printf("epoch %d  bpr %.4f\n", epoch + 1, bpr);
    }
    const double recall = recall_at_k(data, U, V);
    std::printf("Recall@%d: %.4f before training, %.4f after (random ranking: about %.3f)\n", kTopK,
                recall0, recall, (double)kTopK / (kItems - (kPerUser - kHeld)));
    // Every user's held-out items share its group of 60 items, so a model
    // that learned the groups gets ~20/58; a random ranking ~0.07.
    const bool ok = recall > 0.2 && last_bpr < first_bpr;
    std::printf("%s\n", ok ? "byo_embeddings: OK" : "byo_embeddings: FAILED to learn");
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
    const int epochs = argc > 1 ? std::atoi(argv[1]) : 20;
    if (epochs < 2) {
        std::fprintf(stderr, "usage: byo_embeddings [EPOCHS >= 2]\n");
        return 2;
    }
    try {
        return run(epochs);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "byo_embeddings: %s\n", e.what());
        return 1;
    }
}
