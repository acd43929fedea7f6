/* test_nn_model.c — model YAML: the shipped configs build the paper's architectures (parameter
 * counts computed by hand from the layer list), overrides, strictness, and keyed initialisation. */
#include "check.h"
#include "hust19/cfg.h"
#include "hust19/err.h"
#include "hust19/nn.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_src[4096];

static const char *cfgpath(const char *name)
{
    static char p[4200];
    snprintf(p, sizeof p, "%s/configs/models/%s", g_src, name);
    return p;
}

/* conv blocks 32,32,64,64,128,128 on c0 channels, dense 25*25*128 -> 256 -> 128 -> out */
static size_t cnn_params(int c0, int out)
{
    size_t s = 0;
    int c = c0, k[6] = {32, 32, 64, 64, 128, 128};
    for (int i = 0; i < 6; i++) {
        s += (size_t)k[i] * c * 9 + k[i];
        c = k[i];
    }
    return s + 25 * 25 * 128 * 256 + 256 + 256 * 128 + 128 + 128 * (size_t)out + out;
}

static nn_net *load(const char *file, int in, int classes, nn_hyper *h)
{
    int C, H, W, ns;
    nn_layer_spec *s;
    nn_net *net = NULL;
    int rc = nn_model_load(cfgpath(file), in, classes, &C, &H, &W, &s, &ns, h);
    CHECK_MSG(rc == 0, "%s: %s", file, h19_errmsg());
    if (rc) return NULL;
    CHECK_OK(nn_net_create(&net, C, H, W, s, ns, 1));
    free(s);
    return net;
}

static int load_text(const char *text, char *msg, size_t msgn)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/h19_nn_model_%ld.yaml", (long)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    int C, H, W, ns;
    nn_layer_spec *s;
    nn_hyper h;
    int rc = nn_model_load(path, 0, 0, &C, &H, &W, &s, &ns, &h);
    snprintf(msg, msgn, "%s", h19_errmsg());
    if (!rc) free(s);
    remove(path);
    return rc;
}

int main(void)
{
    const char *src = getenv("HUST19_SRC");
    snprintf(g_src, sizeof g_src, "%s", src ? src : "..");

    nn_hyper h;
    nn_net *net = load("slice_cnn.yaml", 0, 0, &h);
    if (net) {
        CHECK(net->nparams == cnn_params(1, 3));
        CHECK(net->nout == 3 && net->head == NN_SOFTMAX_CE);
        CHECK(net->nlayers == 23);
        CHECK(net->layers[15].C == 128 && net->layers[15].H == 25 && net->layers[15].W == 25);
        CHECK(h.batch == 64 && h.micro_batch == 8 && fabsf(h.lr - 1e-4f) < 1e-10f && fabsf(h.decay - 0.05f) < 1e-8f);
        /* one forward pass gives a distribution */
        nn_net_init(net, 1, 0, 0);
        float *x = calloc(200 * 200, sizeof(float));
        for (int i = 0; i < 200 * 200; i++) x[i] = (float)((i * 7919) % 255) / 255.0f;
        const float *p = nn_forward(net, x, NULL, 1, NULL, NULL);
        CHECK_NEAR(p[0] + p[1] + p[2], 1.0, 1e-5);
        CHECK(p[0] > 0 && p[1] > 0 && p[2] > 0);
        free(x);
        nn_net_free(net);
    }
    net = load("patient_cnn.yaml", 0, 1, NULL);
    if (net) {
        CHECK(net->nparams == cnn_params(10, 1));
        CHECK(net->nout == 1 && net->head == NN_SIGMOID_BCE);
        nn_net_free(net);
    }
    net = load("patient_cnn.yaml", 0, 0, NULL);
    if (net) {
        CHECK(net->nparams == cnn_params(10, 3));
        nn_net_free(net);
    }
    net = load("cf_dnn.yaml", 60, 0, &h);
    if (net) {
        CHECK(net->nparams == 59427); /* 60-256-128-64-32-16-3 dense, weights and biases */
        CHECK(net->C * net->H * net->W == 60);
        int ndense = 0, ndrop = 0;
        for (int l = 0; l < net->nlayers; l++) {
            ndense += net->layers[l].spec.kind == NN_DENSE;
            ndrop += net->layers[l].spec.kind == NN_DROPOUT;
        }
        CHECK(ndense == 6 && ndrop == 5);
        /* same seed -> same weights; another fold -> other weights */
        nn_net *b = load("cf_dnn.yaml", 60, 0, NULL);
        nn_net_init(net, 77, 1, 2);
        nn_net_init(b, 77, 1, 2);
        CHECK(memcmp(net->params, b->params, sizeof(float) * net->nparams) == 0);
        nn_net_init(b, 77, 1, 3);
        CHECK(memcmp(net->params, b->params, sizeof(float) * net->nparams) != 0);
        /* He init of the first layer: sd sqrt(2/60) */
        double s2 = 0;
        for (int i = 0; i < 256 * 60; i++) s2 += (double)net->params[i] * net->params[i];
        CHECK_NEAR(sqrt(s2 / (256 * 60)), sqrt(2.0 / 60), 0.02 * sqrt(2.0 / 60) + 0.003);
        nn_net_free(b);
        nn_net_free(net);
    }
    net = load("cf_dnn.yaml", 60, 1, NULL);
    if (net) {
        CHECK(net->nparams == 59393);
        nn_net_free(net);
    }
    /* nn_net_init_uniform (slice_cnn.init: uniform, PyTorch's default): every weight and bias of a
     * layer in U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (fan_in 9 C for a 3x3 convolution), variance a^2/3,
     * biases not 0; keyed like nn_net_init; Adam state and step reset */
    net = load("slice_cnn_small.yaml", 0, 0, NULL);
    nn_net *b = load("slice_cnn_small.yaml", 0, 0, NULL);
    if (net && b) {
        net->step = 5;
        net->params[net->nparams] = 1.0f; /* the buffers after the parameters: gradients, Adam m, v */
        nn_net_init_uniform(net, 77, 1, 2);
        CHECK(net->step == 0 && net->params[net->nparams] == 0.0f);
        int checked = 0;
        for (int l = 0; l < net->nlayers; l++) {
            const nn_layer *L = &net->layers[l];
            if (L->w_off == SIZE_MAX) continue;
            double fan = L->spec.kind == NN_CONV3 ? 9.0 * L->C : (double)L->C * L->H * L->W;
            double a = 1.0 / sqrt(fan), s2 = 0, mx = 0;
            for (size_t i = 0; i < L->w_n; i++) {
                double v = net->params[L->w_off + i];
                s2 += v * v;
                mx = fabs(v) > mx ? fabs(v) : mx;
            }
            CHECK_MSG(mx <= a, "layer %d: |w| %.4g > %.4g", l, mx, a);
            if (L->w_n >= 1000) CHECK_NEAR(s2 / (double)L->w_n, a * a / 3, 0.1 * a * a / 3);
            int nonzero = 0;
            for (size_t i = 0; i < L->b_n; i++) {
                double v = net->params[L->b_off + i];
                CHECK(fabs(v) <= a);
                nonzero += v != 0;
            }
            CHECK(nonzero == (int)L->b_n);
            checked++;
        }
        CHECK(checked == 6); /* four convolutions, two dense layers */
        nn_net_init_uniform(b, 77, 1, 2);
        CHECK(memcmp(net->params, b->params, sizeof(float) * net->nparams) == 0);
        nn_net_init_uniform(b, 77, 1, 3);
        CHECK(memcmp(net->params, b->params, sizeof(float) * net->nparams) != 0);
    }
    nn_net_free(b);
    nn_net_free(net);
    /* the CF count is required for cf_dnn */
    {
        int C, H, W, ns;
        nn_layer_spec *s;
        int rc = nn_model_load(cfgpath("cf_dnn.yaml"), 0, 0, &C, &H, &W, &s, &ns, NULL);
        CHECK_MSG(rc == H19_ECONFIG && strstr(h19_errmsg(), "build time"), "%s", h19_errmsg());
    }
    char msg[512];
    const char *head = "format: hust19-model\nversion: 1\ninput: [4]\n";
    char t[1024];
    snprintf(t, sizeof t, "%slayers:\n  - dense: 8\n  - relu\n  - output: 2\ntrain:\n  lerning_rate: 0.1\n", head);
    CHECK(load_text(t, msg, sizeof msg) == H19_ECONFIG);
    CHECK_MSG(strstr(msg, ":9:3: unknown key 'lerning_rate' in 'train'"), "%s", msg);
    snprintf(t, sizeof t, "%slayers:\n  - dense: 8\n  - relu\n  - output: 2\nextra: 1\n", head);
    CHECK(load_text(t, msg, sizeof msg) == H19_ECONFIG);
    CHECK_MSG(strstr(msg, "unknown key 'extra'"), "%s", msg);
    snprintf(t, sizeof t, "%slayers:\n  - dense: 8\n  - relu6\n  - output: 2\n", head);
    CHECK(load_text(t, msg, sizeof msg) == H19_ECONFIG);
    CHECK_MSG(strstr(msg, ":6:5: unknown layer 'relu6'"), "%s", msg);
    snprintf(t, sizeof t, "%slayers:\n  - dense: 8\n  - {dropout: 0.5, dense: 3}\n  - output: 2\n", head);
    CHECK(load_text(t, msg, sizeof msg) == H19_ECONFIG);
    snprintf(t, sizeof t, "%slayers:\n  - dense: 8\n  - relu\n", head);
    CHECK(load_text(t, msg, sizeof msg) == H19_ECONFIG);
    CHECK_MSG(strstr(msg, "must end with 'output"), "%s", msg);
    snprintf(t, sizeof t, "format: hust19-model\nversion: 2\ninput: [4]\nlayers:\n  - output: 2\n");
    CHECK(load_text(t, msg, sizeof msg) == H19_ECONFIG);
    CHECK_MSG(strstr(msg, "version 2, this build reads version 1"), "%s", msg);
    snprintf(t, sizeof t, "format: hust19-model\nversion: 1\ninput: [1, 3, 3]\nlayers:\n  - pool\n  - pool\n  - output: 2\n");
    CHECK(load_text(t, msg, sizeof msg) == H19_EARG);
    CHECK_MSG(strstr(msg, "maxpool2 on a 1x1 map"), "%s", msg);
    snprintf(t, sizeof t, "%slayers:\n  - dense: 8\n  - output: 2\ntrain: {lr: 0.01, patience: 4, batch: 16}\n", head);
    CHECK_OK(load_text(t, msg, sizeof msg));
    CHECK_DONE();
}
