// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// A contract created with value by Forwarder.spawn.
contract Child {
    constructor() payable {}

    /// Sends the whole balance to `to` and removes the code (EIP-6780: in
    /// the creating transaction only; otherwise just the transfer).
    function close(address payable to) external {
        selfdestruct(to);
    }
}

/// Sends ETH onward in internal calls, and reverts some of them.
contract Forwarder {
    /// Splits msg.value evenly among `to` (the remainder stays here).
    function split(address payable[] calldata to) external payable {
        uint256 share = msg.value / to.length;
        for (uint256 i = 0; i < to.length; i++) {
            (bool ok,) = to[i].call{value: share}("");
            require(ok, "send");
        }
    }

    /// Keeps msg.value, then tries `inner`, which sends `amount` to `to`
    /// and reverts: the inner transfer is undone, the transaction succeeds.
    function tryForward(address payable to, uint256 amount) external payable {
        try this.sendAndRevert(to, amount) {} catch {}
    }

    /// Sends `amount` to `to` in an internal call, then reverts.
    function sendAndRevert(address payable to, uint256 amount) external {
        (bool ok,) = to.call{value: amount}("");
        require(ok, "send");
        revert("after the transfer");
    }

    /// Sends msg.value to `to` in an internal call, then fails the whole
    /// transaction.
    function forwardThenFail(address payable to) external payable {
        (bool ok,) = to.call{value: msg.value}("");
        require(ok, "send");
        revert("whole transaction fails");
    }

    /// Creates a Child holding msg.value, which self-destructs to `to`.
    function spawn(address payable to) external payable returns (address) {
        Child child = new Child{value: msg.value}();
        child.close(to);
        return address(child);
    }

    /// Forwards through a DELEGATECALL to `impl`'s split, then keeps nothing.
    function viaDelegate(address impl, address payable[] calldata to) external payable {
        (bool ok,) = impl.delegatecall(abi.encodeWithSelector(Forwarder.split.selector, to));
        require(ok, "delegate");
    }
}
