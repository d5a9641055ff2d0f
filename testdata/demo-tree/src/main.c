#include "util.h"

int main(void) {
  return greet("ringside");
}
