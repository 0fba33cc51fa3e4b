#include "vfiomig.h"
int main(void) { return vfiomig_version(0, 0, 0) ? 0 : 1; }
