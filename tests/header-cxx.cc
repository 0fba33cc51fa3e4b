#include "vfiomig.h"
int main() { return vfiomig_version(nullptr, nullptr, nullptr) ? 0 : 1; }
