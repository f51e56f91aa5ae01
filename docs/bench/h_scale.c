/* h_scale — the norm of the synthesized negative h against the norm of the
 * positives it starts from (docs/EMBEDDING.md, "The scale of h"): 512
 * random rows, positives scaled x0.1, x1, x10, dim 32 and 64, trained mode
 * (untrained) and reference mode, default parameters, seed 1.
 *
 *   cc -O2 -std=c11 -Iinclude -Ibuild/include docs/bench/h_scale.c \
 *      -Lbuild -lcnsdiff -Wl,-rpath,$PWD/build -lm -o /tmp/h_scale && /tmp/h_scale
 */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <cnsdiff/cnsdiff.h>
int main(void){
  for (int dim = 32; dim <= 64; dim += 32)
  for (int mode = 0; mode <= 1; ++mode)
  for (double scale = 0.1; scale < 20; scale *= 10) {
    cns_sampler_desc sd; cns_sampler_desc_init(&sd); sd.dim = dim;
    cns_sampler *s; if (cns_sampler_create(&sd, NULL, &s, NULL)) return 1;
    if (cns_sampler_set_int(s, CNS_SAMPLER_MODE, mode)) return 1;
    enum { N = 512 }; float *u = malloc(sizeof(float)*N*dim), *p = malloc(sizeof(float)*N*dim), *h = malloc(sizeof(float)*N*dim);
    srand(3); double pn = 0;
    for (int i = 0; i < N*dim; ++i) { u[i] = (rand()/(float)RAND_MAX-0.5f); p[i] = (float)(scale*(rand()/(double)RAND_MAX-0.5)*sqrt(12.0/dim)); }
    if (cns_sampler_draw(s, u, p, N, h)) return 1;
    double hn = 0; for (int r = 0; r < N; ++r) { double a=0,b=0; for (int k=0;k<dim;++k){a+=h[r*dim+k]*h[r*dim+k]; b+=p[r*dim+k]*p[r*dim+k];} hn+=sqrt(a); pn+=sqrt(b);} 
    printf("dim %d mode %d  mean|pos| %.3f  mean|h| %.3f\n", dim, mode, pn/N, hn/N);
    cns_sampler_free(s); free(u); free(p); free(h);
  }
}
